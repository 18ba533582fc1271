// A connection's subscriptions on repjs.v2 (PROPOSE's DECIDED delivers its slot): pushes that reach a
// subscription's next slot while the connection's own proposal for it is in flight are held until
// the answer; what the hub says after them (CAUGHT_UP, an error) waits behind them; the held bytes
// count as queued for the hub's pacing, and past a quarter of the socket budget the hold is given up.
// The hub is a stand-in that hands its sink to the test: the order of frames is all that is checked.
import { expect, test } from 'vitest'
import { ConnectionSubscriptions, type SubscriptionOwner } from '../../node-gateway/gateway/connection-subscriptions.js'
import type { SlotSink } from '../../node-gateway/gateway/hub.js'
import type { PeerContext } from '../../node-gateway/gateway/peer-context.js'
import { decodeMessage, type Message } from '../../core/protocol.js'

function setup(maxBufferedBytes = 1 << 20) {
  const sent: string[] = []
  let sink: SlotSink | undefined
  const owner: SubscriptionOwner = {
    run: 'r',
    closed: false,
    send: (m: Message) => void sent.push(m.type),
    sendFrame: (f: Uint8Array) => {
      const m = decodeMessage(f)
      sent.push(m.type === 'slots' ? `slots ${m.first}..${m.first + m.records.length - 1}` : m.type)
    },
    error: () => void sent.push('error'),
    buffered: () => 0,
    slowConsumer: () => void sent.push('slow'),
  }
  const ctx = {
    limits: { subscribesPerSecond: 100, maxSubscriptions: 10, maxBufferedBytes },
    metrics: { pushed: { inc: () => {} } },
    hubs: {
      admit: () => {},
      subscribe: async (_run: string, _stream: string, _from: number, s: SlotSink) => ((sink = s), { close: () => {} }),
    },
  } as unknown as PeerContext
  const subs = new ConnectionSubscriptions(ctx, owner, true)
  return { subs, sent, sink: () => sink! }
}

const records = (n: number, bytes = 10) => Array.from({ length: n }, () => new Uint8Array(bytes))

test('CAUGHT_UP and an error wait behind the slots held for a proposal; the DECIDED delivers its slot once', async () => {
  const { subs, sent, sink } = setup()
  const answered = subs.proposing('main', 0)
  await subs.subscribe({ type: 'subscribe', sub: 1, stream: 'main', from: 0 })
  sink().push(0, records(5))
  sink().caughtUp()
  expect(sent).toEqual([]) // held: the proposal for slot 0 is in flight
  sent.push('decided') // the peer sends the DECIDED, then answers
  answered(true)
  expect(sent).toEqual(['decided', 'slots 1..4', 'caughtUp'])
  sink().push(5, records(1))
  sink().failed(new Error('gone'))
  expect(sent.slice(3)).toEqual(['slots 5..5', 'error'])
})

test('held bytes count as queued for the hub; past a quarter of the budget the hold is given up, in order', async () => {
  const { subs, sent, sink } = setup(4000)
  const answered = subs.proposing('main', 0)
  await subs.subscribe({ type: 'subscribe', sub: 1, stream: 'main', from: 0 })
  sink().push(0, records(5, 100))
  expect(sink().buffered()).toBe(500)
  expect(sent).toEqual([])
  sink().push(5, records(6, 100)) // 1,100 held bytes > 4,000 / 4: sent now
  expect(sent).toEqual(['slots 0..4', 'slots 5..10'])
  expect(sink().buffered()).toBe(0)
  sink().push(11, records(1))
  sink().caughtUp()
  expect(sent.slice(2)).toEqual(['slots 11..11', 'caughtUp']) // not held again while that proposal is in flight
  answered(true) // slot 0 was sent already: its DECIDED delivers nothing more
  sink().push(12, records(1))
  expect(sent.slice(4)).toEqual(['slots 12..12'])
})
