// Prints random numbers scaled by its argument. Every call is agreed, but the argument is not:
// a replica started with another scale prints other numbers, and call identity cannot see it.
// Usage: node scaled.js [scale] [count]
const scale = Number(process.argv[2] || 1)
const count = Number(process.argv[3] || 6)
for (let i = 0; i < count; i++) console.log(`${i}: ${(Math.random() * scale).toFixed(6)}`)
