// Greets every name typed, until the end of input, with the agreed time since it started.
// Plain script: runs under `repjs run` (global prompt()) and in a browser worker alike.
var t0 = performance.now()
var count = 0
var name
while ((name = prompt('name?')) !== null) {
  count++
  console.log('hello ' + name + ' (#' + count + ', +' + Math.round(performance.now() - t0) + ' ms)')
}
console.log('bye after ' + count + ' names')
