// A 3-member etcd cluster loses quorum: calls block and report waiting-for-quorum (never return
// an unagreed value); when the members return, calls resume and replicas still agree.
import { expect, test } from 'vitest'
import { connect, type Replica, type StatusState } from '../../node-gateway/index.js'
import { uniqueRun, useEtcd } from '../helpers/etcd.js'

const etcd = useEtcd(3)

test('with 2 of 3 members down calls block with waiting-for-quorum, then resume and agree', async () => {
  const run = uniqueRun('quorum')
  const a = await connect({ run, etcd: etcd.endpoints, program: 'quorum' })
  const b = await connect({ run, etcd: etcd.endpoints, program: 'quorum' })
  const seen = new Set<StatusState>()
  a.on('status', (s) => seen.add(s.state))
  const trA: number[] = []
  const trB: number[] = []
  for (let i = 0; i < 5; i++) trA.push(await a.now())

  await etcd.members[1]!.stop()
  await etcd.members[2]!.stop()
  let done = false
  const blocked = a.now().then((t) => {
    done = true
    return t
  })
  const deadline = Date.now() + 20_000
  while (!seen.has('waiting-for-quorum') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100))
  expect(seen.has('waiting-for-quorum')).toBe(true)
  expect(done).toBe(false)

  await etcd.members[1]!.start()
  await etcd.members[2]!.start()
  trA.push(await blocked)
  for (let i = 0; i < 5; i++) trA.push(await a.now())
  expect(a.status.state).toBe('live')
  for (let i = 0; i < 11; i++) trB.push(await b.now())
  expect(trB).toEqual(trA)
  await a.close()
  await b.close()
}, 90_000)

test('connect() with 2 of 3 members down reports its wait, retries until quorum is back, and can be abandoned', async () => {
  const run = uniqueRun('quorum-connect')
  await etcd.members[1]!.stop()
  await etcd.members[2]!.stop()
  const waits: StatusState[] = []
  let waiting!: () => void
  const sawWait = new Promise<void>((resolve) => (waiting = resolve))
  const onStatus = (s: { state: StatusState }) => {
    if (s.state === 'waiting-for-quorum' || s.state === 'reconnecting') (waits.push(s.state), waiting())
  }
  const joining = connect({ run, etcd: etcd.endpoints, program: 'quorum', onStatus })
  const abandon = new AbortController()
  const abandoned = connect({ run, etcd: etcd.endpoints, program: 'quorum', signal: abandon.signal }).then(
    () => 'connected',
    (e: { code?: string }) => e.code,
  )
  await sawWait
  abandon.abort()
  expect(await abandoned).toBe('REPJS_CLOSED')
  await etcd.members[1]!.start()
  await etcd.members[2]!.start()
  const rep = await joining
  expect(waits.length).toBeGreaterThan(0)
  expect(typeof (await rep.now())).toBe('number')
  expect(rep.status.state).toBe('live')
  await rep.close()
}, 90_000)
