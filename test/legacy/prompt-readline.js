// Reads its input two ways at once: a readline interface on stdin and, meanwhile, the global
// prompt() (a script mixing the two). Each typed line must reach exactly one of them.
const rl = require('node:readline').createInterface({ input: process.stdin })
rl.on('line', (line) => console.log(`readline ${line}`))
rl.on('close', () => console.log('end'))
// after readline has asked stdin for its first line
setImmediate(() => console.log(`prompt ${prompt('?')}`))
