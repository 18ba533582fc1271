// Sign-up form: asks a name, closes its readline interface while it "checks" the name, then asks
// the rest on a new interface over the same stdin. Piped into plain Node, the lines after the first
// are read (and dropped) while nobody asks; under repjs run each line waits for a read.
import * as readline from 'node:readline/promises'
import { stdin as input, stdout as output } from 'node:process'
import { setTimeout as sleep } from 'node:timers/promises'

let rl = readline.createInterface({ input, output })
const name = await rl.question('name? ')
rl.close()
await sleep(Number(process.argv[2] ?? 300))
output.write(`checked ${name}\n`)
rl = readline.createInterface({ input, output })
const color = await rl.question('color? ')
const pet = await rl.question('pet? ')
rl.close()
console.log(`${name} likes ${color} and has a ${pet}`)
