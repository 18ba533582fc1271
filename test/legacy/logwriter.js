// A small service log: a start banner, a heartbeat every few milliseconds, and a closing line.
// Usage: node logwriter.js [file] [beats]
const fs = require('fs')

const file = process.argv[2] || 'service.log'
const beats = Number(process.argv[3] || 5)

function stamp() {
  return new Date().toISOString()
}

fs.writeFileSync(file, `service started ${Date()}\n`)
let n = 0
const timer = setInterval(() => {
  n++
  fs.appendFileSync(file, `${stamp()} heartbeat ${n}\n`)
  if (n === beats) {
    clearInterval(timer)
    const last = new Date()
    fs.appendFileSync(file, `${last.toISOString()} stopping after ${n} heartbeats\n`)
    console.log(`wrote ${n + 2} lines to ${file}, last at ${last.toLocaleTimeString('en-GB')}.${String(last.getMilliseconds()).padStart(3, '0')}`)
  }
}, 5)
