// A visit counter kept in a file: the first visitor gets a welcome with the date, later ones a
// lucky number. Reads and writes the counter with plain fs calls, which RepJS does not agree:
// under `repjs run` the replicas take different branches here, and RepJS must say so.
// Usage: node visits.js <shared-dir>
const fs = require('fs')
const path = require('path')

const counter = path.join(process.argv[2], 'visits.txt')
const visits = fs.existsSync(counter) ? Number(fs.readFileSync(counter, 'utf8')) : 0
fs.writeFileSync(counter, String(visits + 1))
if (visits === 0) {
  console.log(`welcome, first visitor! it is ${new Date().toISOString()}`)
} else {
  console.log(`visitor #${visits + 1}, your lucky number is ${Math.floor(Math.random() * 100)}`)
}
