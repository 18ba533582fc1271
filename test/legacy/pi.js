// Estimates pi from random points, as a new user would try RepJS: plain Node, nothing replicated
// in sight. Prints the estimate and a fingerprint of every value Math.random() returned.
const n = Number(process.argv[2] ?? 4000)
let inside = 0
let fingerprint = 0
for (let i = 0; i < n / 2; i++) {
  const x = Math.random()
  const y = Math.random()
  if (typeof x !== 'number' || typeof y !== 'number') throw new TypeError(`Math.random() returned ${typeof x === 'number' ? typeof y : typeof x}`)
  fingerprint = (Math.imul(fingerprint, 31) + Math.floor(x * 2 ** 30) + Math.floor(y * 2 ** 20)) | 0
  if (x * x + y * y <= 1) inside++
}
console.log(`pi ~ ${(8 * inside) / n} from ${n} values; fingerprint ${fingerprint >>> 0}`)
