// prompt() blocks the script's thread on the bridge: what the script printed before it must still
// reach stdout at once and in order (a worker's own stdout only flushes on its event loop).
import { expect, test } from 'vitest'
import { uniqueRun, useEtcd } from '../helpers/etcd.js'
import { outcome, runReplica } from '../helpers/run-script.js'

const etcd = useEtcd()

test('output around a blocking prompt() arrives in order on every replica, nothing lost at exit', async () => {
  const run = uniqueRun('ask')
  const typer = runReplica('ask.js', { run, etcd: etcd.endpoint, flags: ['--eof-ends-input'], stdin: 'pipe' })
  const other = runReplica('ask.js', { run, etcd: etcd.endpoint })
  // the prompt text is visible while the script waits for the first line
  await other.lines(0)
  const deadline = Date.now() + 15_000
  while (!other.stdout.includes('name?') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
  expect(other.stdout).toBe('name? ')
  typer.write('linus\nada\n')
  typer.end()
  const want = 'name? hello linus\nname? hello ada\nname? bye after 2 names\n'
  expect(await typer.exited).toBe(0)
  expect(await other.exited).toBe(0)
  expect(typer.stdout).toBe(want)
  expect(other.stdout).toBe(want)
})

test('a script reading with readline and prompt() at once gets each typed line once', async () => {
  const run = uniqueRun('mixed')
  const typer = runReplica('prompt-readline.js', { run, etcd: etcd.endpoint, flags: ['--eof-ends-input'], stdin: 'pipe' })
  typer.write('one\ntwo\n')
  typer.end()
  expect(await typer.exited).toBe(0)
  // stdin's read was made first: it gets the first line, prompt() the second
  expect(typer.stdout).toBe('? prompt two\nreadline one\nend\n')
  // Which read gets which line is agreed too: the host takes the script's input reads in the order
  // it made them, whichever way (bridge or stdin port) each arrived first. Replayers agree.
  const replays = await Promise.all([0, 1, 2].map(() => outcome(runReplica('prompt-readline.js', { run, etcd: etcd.endpoint }))))
  for (const r of replays) expect(r).toEqual({ code: 0, stdout: typer.stdout, stderr: '' })
})
