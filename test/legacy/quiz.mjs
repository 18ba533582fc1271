// Times-table quiz: three questions, then your score.
import * as readline from 'node:readline/promises'
import { stdin as input, stdout as output } from 'node:process'
import { randomInt } from 'node:crypto'

const rl = readline.createInterface({ input, output })
const started = Date.now()
let score = 0
for (let q = 1; q <= 3; q++) {
  const a = randomInt(2, 13)
  const b = randomInt(2, 13)
  const answer = await rl.question(`Q${q}: ${a} x ${b} = `)
  if (Number(answer) === a * b) {
    score++
    output.write('right!\n')
  } else {
    output.write(`no, ${a} x ${b} = ${a * b}\n`)
  }
}
rl.close()
console.log(`score ${score}/3 in ${Date.now() - started} ms (${new Date(started).toISOString()})`)
