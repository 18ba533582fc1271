// The script's stdin under `repjs run` (node-gateway/run/stdin.ts) asks the host for one chunk per
// read: nothing is sent unasked, a paused stream holds at most one chunk, and the end of input comes
// only when the script reads past the last line.
import { MessageChannel } from 'node:worker_threads'
import { createInterface } from 'node:readline/promises'
import { expect, test } from 'vitest'
import { serveStdin, workerStdin } from '../../node-gateway/run/stdin.js'

const tick = () => new Promise((r) => setTimeout(r, 20))
/** Until `done()` holds (messages between the ports take a moment, more on a loaded machine), up to 10 s. */
async function settle(done: () => boolean): Promise<void> {
  for (const until = Date.now() + 10_000; !done() && Date.now() < until; ) await tick()
}

test('one agreed line per read; lines and the end of input wait while no interface reads', async () => {
  const lines = ['ada', 'blue', 'cat', null]
  let asked = 0
  let started = 0
  const { port1, port2 } = new MessageChannel()
  // every line is "agreed" already: a host that pushed them would deliver them all at once
  serveStdin(port1, async () => (asked++, lines.length ? (lines[0] === null ? lines.shift()! : `${lines.shift()}\n`) : undefined), () => started++)
  const stdin = workerStdin(port2)
  await tick()
  expect([asked, started]).toEqual([0, 0]) // nobody reads yet

  let rl = createInterface({ input: stdin })
  expect(await rl.question('name? ')).toBe('ada')
  rl.close()
  await settle(() => asked >= 2)
  await tick() // and nothing more comes
  // one line asked ahead while the script read, none since it closed its interface
  expect([asked, started]).toEqual([2, 1])
  expect(stdin.readableLength).toBe('blue\n'.length)
  expect(stdin.readableEnded).toBe(false)

  rl = createInterface({ input: stdin })
  let closed = false
  const closing = new Promise((r) => rl.on('close', () => r((closed = true))))
  expect(await rl.question('color? ')).toBe('blue')
  expect(await rl.question('pet? ')).toBe('cat')
  expect(closed).toBe(false) // the end of input has not overtaken the last question
  await closing // the stream read on: the end of input was asked for and came
  expect(asked).toBe(4)
  port1.close()
})
