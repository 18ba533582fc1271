// Draws random samples, prints a long report of them, then exits with status 3 when any sample
// is out of range (so a calling script can tell).
// Usage: node exitcode.js [rows]
const rows = Number(process.argv[2] || 5000)
const samples = Array.from({ length: 50 }, () => Math.random())
let out = 0
for (let i = 0; i < rows; i++) {
  const v = samples[i % samples.length] * (1 + (i % 7) / 10)
  if (v > 1) out++
  console.log(`row ${String(i).padStart(5)} sample ${i % samples.length} value ${v.toFixed(6)}`)
}
console.log(`${out} of ${rows} values out of range`)
process.exit(out > 0 ? 3 : 0)
