// Asks for names with the global prompt() until input ends (a browser-style script).
let n = 0
for (;;) {
  const name = prompt('name?')
  if (name === null) break
  n++
  console.log(`hello ${name}`)
}
console.log(`bye after ${n} names`)
