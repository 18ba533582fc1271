// Moves an input file that is not there: the rename fails with ENOENT, nobody catches it, and the
// program dies with an uncaught exception (exit status 1).
// Usage: node crash.js <dir>
const fs = require('fs')
const path = require('path')

const ticket = Math.floor(Math.random() * 1e6)
console.log(`processing ticket ${ticket}`)
setTimeout(() => {
  fs.renameSync(path.join(process.argv[2], `missing-${ticket}`), path.join(process.argv[2], 'done'))
}, 10)
