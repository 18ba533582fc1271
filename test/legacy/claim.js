// Claims a job file by renaming it after this process. Every replica renames it to a different
// name (process.pid is not agreed), so under `repjs run` the second replica diverges.
// Usage: node claim.js <shared-dir>
const fs = require('fs')
const path = require('path')

const dir = process.argv[2]
console.log(`claiming at ${Date.now()}`)
fs.renameSync(path.join(dir, 'job'), path.join(dir, `job.claimed-by-${process.pid}`))
console.log('claimed')
