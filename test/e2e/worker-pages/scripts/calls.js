// Makes once each call both runtimes agree (core/script/calls.ts), in a fixed order: run by
// `repjs run` and by runInWorker, its two logs must name the same calls at the same sites.
var t = Date.now()
var d = new Date()
var s = Date()
var p = performance.now()
var r = Math.random()
var u = crypto.randomUUID()
var b = crypto.getRandomValues(new Uint8Array(4))
var line = prompt('line?')
console.log('done ' + [typeof t, typeof d, typeof s, typeof p, typeof r, typeof u, b.length, line].join(' '))
