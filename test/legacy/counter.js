// A visitor counter for a small exhibit: each visitor gets a ticket id, a lucky color and a
// door code, stamped with the time; a closing tally follows a moment later.
// Plain script for Node and for the browser alike: no require, no process, no DOM.
var opened = Date.now()
var colors = ['red', 'green', 'blue']
var tally = { red: 0, green: 0, blue: 0 }

function doorCode() {
  var bytes = new Uint8Array(3)
  crypto.getRandomValues(bytes)
  var code = ''
  for (var i = 0; i < bytes.length; i++) code += (bytes[i] % 10).toString()
  return code
}

console.log('exhibit opened at ' + new Date(opened).toISOString())
for (var n = 1; n <= 6; n++) {
  var color = colors[Math.floor(Math.random() * colors.length)]
  tally[color]++
  console.log('visitor ' + n + ': ticket ' + crypto.randomUUID() + ', lucky color ' + color + ', door code ' + doorCode() + ', at ' + new Date().toISOString())
}

setTimeout(function () {
  console.log('tally', JSON.stringify(tally), 'after', Date.now() - opened, 'ms')
}, 20)
