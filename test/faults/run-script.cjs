// A plain script for the `repjs run` scenario: prints `<i> <Math.random()> <Date.now()>` per step.
// Under `repjs run` both values are agreed, so every replica prints the same lines.
const n = Number(process.argv[2] ?? 50)
for (let i = 0; i < n; i++) console.log(`${i} ${Math.random()} ${Date.now()}`)
