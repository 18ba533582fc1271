// The flight display agrees its state hash after every command (rep.check on stream 'state'):
// replicas that applied the same commands pass, a late one replays the checks, and the recorded
// hashes are the displayed ones (a replica holding another state would get REPJS_DIVERGED).
import { afterAll, expect, test } from 'vitest'
import { applyCommand, CHECK_STREAM, hashState, initialState, runFlightDisplay } from '../../demo/app.js'
import { connect, RepJSError, type Replica } from '../../node-gateway/index.js'
import { uniqueRun, useEtcd } from '../helpers/etcd.js'

const etcd = useEtcd()
const open: Replica[] = []
afterAll(async () => {
  await Promise.all(open.map((r) => r.close()))
})

async function display(run: string) {
  const rep = await connect({ run, etcd: etcd.endpoint, program: 'demo-check' })
  open.push(rep)
  const errors: unknown[] = []
  const hashes: string[] = []
  const program = runFlightDisplay(rep, { onError: (e) => errors.push(e), onState: (_s, h) => hashes.push(h) })
  program.stopClock()
  return { rep, program, errors, hashes }
}

test('every command is followed by an agreed state check; a late replica replays them; a wrong state is caught', async () => {
  const run = uniqueRun('demo-check')
  const [a, b] = [await display(run), await display(run)]
  const lines = ['heading 90', 'speed 200', 'set altitude 3000']
  for (const l of lines) a.rep.typeLine(l)
  a.rep.endInput()
  await Promise.all([a.program.done, b.program.done])
  expect(b.hashes).toEqual(a.hashes)
  const late = await display(run)
  await late.program.done
  expect(late.hashes).toEqual(a.hashes)
  // the checks were recorded with the displayed hashes, one per command, in order
  const probe = await connect({ run, etcd: etcd.endpoint, program: 'demo-check' })
  open.push(probe)
  const state = probe.stream(CHECK_STREAM)
  const first = applyCommand(initialState(), lines[0]!, undefined, a.rep.info.replicaId)
  expect(hashState(first)).toBe(a.hashes[0])
  expect(await state.check(a.hashes[0]!, { quorum: 1, name: 'state' })).toMatchObject({ slot: 0, hash: a.hashes[0] })
  const err = await state.check('0badc0de', { quorum: 1, name: 'state' }).catch((e: unknown) => e)
  expect(RepJSError.is(err, 'REPJS_DIVERGED'), String(err)).toBe(true)
  expect((err as RepJSError).details).toMatchObject({ stream: 'state', slot: 1, agreed: a.hashes[1] })
  for (const r of [a, b, late]) expect(r.errors).toEqual([])
}, 30_000)

test('a display whose state differs from the recorded hash reports REPJS_DIVERGED through onError and closes', async () => {
  const run = uniqueRun('demo-check')
  // another replica recorded another state after command 0 (as a display with a bug would)
  const other = await connect({ run, etcd: etcd.endpoint, program: 'demo-check' })
  open.push(other)
  await other.stream(CHECK_STREAM).check('0badc0de', { quorum: 1, name: 'state' })
  const d = await display(run)
  d.rep.typeLine('heading 90')
  await new Promise<void>((done) => d.rep.on('status', (s) => s.state === 'closed' && done()))
  expect(d.errors).toHaveLength(1)
  expect((d.errors[0] as RepJSError).code).toBe('REPJS_DIVERGED')
  expect((d.errors[0] as RepJSError).details).toMatchObject({ stream: 'state', slot: 0, hash: d.hashes[0], agreed: '0badc0de' })
}, 30_000)
