// A predator-prey toy model with its own random generator, seeded from the clock.
// Usage: node sim.js [steps] [delay-ms]
const steps = Number(process.argv[2] || 20)
const delay = Number(process.argv[3] || 0)

const seed = Date.now() % 2147483647
let state = seed || 1
function lcg() {
  state = (state * 48271) % 2147483647
  return state / 2147483647
}

let rabbits = 100 + Math.floor(lcg() * 50)
let foxes = 10 + Math.floor(lcg() * 5)
const t0 = performance.now()
console.log(`seed ${seed}: ${rabbits} rabbits, ${foxes} foxes`)

let step = 0
function tick() {
  step++
  const born = Math.round(rabbits * (0.08 + lcg() * 0.04))
  const eaten = Math.min(rabbits, Math.round(foxes * rabbits * 0.002 * (1 + lcg())))
  rabbits = Math.max(0, rabbits + born - eaten)
  foxes = Math.max(1, foxes + Math.round(eaten * 0.1) - Math.round(foxes * 0.05 * (1 + lcg())))
  const at = performance.now() - t0
  console.log(`step ${String(step).padStart(3)} t=${at.toFixed(0)}ms rabbits=${rabbits} foxes=${foxes}`)
  if (step < steps) setTimeout(tick, delay)
  else console.log(`done: ${steps} steps in ${(performance.now() - t0).toFixed(0)} ms`)
}
setTimeout(tick, delay)
