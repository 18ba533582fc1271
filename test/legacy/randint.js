// Draws a number below RANDINT_MAX (the same script, configured differently per machine).
const crypto = require('node:crypto')
console.log(`drew ${crypto.randomInt(Number(process.env.RANDINT_MAX ?? 10))}`)
