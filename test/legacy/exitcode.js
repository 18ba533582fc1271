// Prints a report of random samples, then exits with status 3 ("some samples out of range").
const lines = Number(process.argv[2] || 2000)
let out = 0
for (let i = 0; i < lines; i++) {
  const v = Math.random()
  if (v > 0.9) out++
  console.log(`sample ${i} ${v.toFixed(6)}`)
}
console.log(`${out} samples out of range`)
process.exit(3)
