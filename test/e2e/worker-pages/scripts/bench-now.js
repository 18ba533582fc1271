// The bridge benchmark: 200 warm-up Date.now() calls, then 2,000 timed ones. The page times the
// 2,000 from the arrival of "start" to the arrival of "end" (the script's own clock is agreed).
var last = 0
for (var w = 0; w < 200; w++) last = Date.now()
console.log('start')
for (var i = 0; i < 2000; i++) last = Date.now()
console.log('end ' + last)
