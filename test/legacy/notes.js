// A notes REPL: each line you type becomes a note with an id; "list" shows them, "quit" ends.
const readline = require('readline')
const crypto = require('crypto')

async function main() {
  const rl = readline.createInterface({ input: process.stdin, terminal: false })
  const notes = []
  console.log('notes> type a note, "list" or "quit"')
  for await (const line of rl) {
    const text = line.trim()
    if (text === 'quit') break
    if (text === 'list') {
      for (const n of notes) console.log(`  ${n.id} ${n.at} ${n.text}`)
      continue
    }
    const note = { id: crypto.randomUUID().slice(0, 8), at: new Date().toISOString(), text }
    notes.push(note)
    console.log(`saved ${note.id}`)
  }
  rl.close()
  console.log(`${notes.length} notes, bye`)
}

main()
