// A dice game: roll until you type "stop". Plain Node, nothing replicated in sight.
const readline = require('readline')

const rl = readline.createInterface({ input: process.stdin, output: process.stdout, terminal: false })
let total = 0
function roll() {
  return 1 + Math.floor(Math.random() * 6)
}
console.log('Dice game. Type "roll" or "stop".')
rl.on('line', (line) => {
  if (line.trim() === 'stop') {
    console.log(`Final score: ${total}`)
    rl.close()
    return
  }
  const a = roll()
  const b = roll()
  total += a + b
  console.log(`You rolled ${a} and ${b} (total ${total}) at ${new Date().toISOString()}`)
})
