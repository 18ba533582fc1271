// Log rotation the classic way: app.log -> app.log.1 -> app.log.2 ..., keeping the newest KEEP.
// Usage: node rotate.js <shared-dir> [generations]
const fs = require('fs')
const path = require('path')

const dir = process.argv[2]
const generations = Number(process.argv[3] || 5)
const KEEP = 3
const current = path.join(dir, 'app.log')

function ignoreMissing(fn) {
  try {
    fn()
  } catch (err) {
    if (err.code !== 'ENOENT') throw err
  }
}

function rotate() {
  ignoreMissing(() => fs.unlinkSync(`${current}.${KEEP}`))
  for (let i = KEEP - 1; i >= 1; i--) ignoreMissing(() => fs.renameSync(`${current}.${i}`, `${current}.${i + 1}`))
  fs.renameSync(current, `${current}.1`)
}

for (let g = 1; g <= generations; g++) {
  for (let i = 0; i < 3; i++) {
    const id = Math.random().toString(36).slice(2, 8)
    fs.appendFileSync(current, `gen ${g} entry ${i} id=${id} at=${Date.now()}\n`)
  }
  rotate()
  console.log(`rotated generation ${g}`)
}
fs.appendFileSync(current, `fresh log since ${new Date().toISOString()}\n`)
for (const f of fs.readdirSync(dir).sort()) {
  const lines = fs.readFileSync(path.join(dir, f), 'utf8').trim().split('\n')
  console.log(`${f}: ${lines.length} line(s), first: ${lines[0]}`)
}
