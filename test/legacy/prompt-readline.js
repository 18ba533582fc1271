// Reads its input two ways at once: a readline interface on stdin and the global prompt() (a script
// mixing the two). stdin's first read is asked for before prompt() blocks, so both reads are out
// at once; each typed line must reach exactly one of them, the same one on every replica.
const rl = require('node:readline').createInterface({ input: process.stdin })
rl.on('line', (line) => console.log(`readline ${line}`))
rl.on('close', () => console.log('end'))
process.stdin.read(0) // ask for stdin's first chunk now
console.log(`prompt ${prompt('?')}`)
