/**
 * Fan-out client process: COUNT raw WebSocket clients speaking repjs.v1 to one gateway (hello, then
 * subscribe to the run's main stream from slot 0), each recording when every slot reaches it.
 *
 *   node bench/fanout-client.mjs <gateway-url> <run> <count> <slots> --label L [--concurrency C]
 *
 * Forked with serialization 'advanced'. Reports {type:'ready', connectMs} once every client is
 * subscribed and caught up; answers {type:'await', below: k} with {type:'have', below: k} once every
 * client has every slot below k, and {type:'report'} with the receive times (CLOCK_MONOTONIC µs, Float64Array slot-major: [slot * count +
 * client], NaN = not received) and this process's CPU time.
 */
import WebSocket from 'ws'
import { decodeMessage, encodeMessage, SUBPROTOCOL } from '../dist/core/protocol.js'
import { META_FORMAT } from '../dist/core/record.js'
import { createCborFormat, createCodec } from '../dist/node-gateway/index.js'
// The gateway stores only a run record as HELLO's meta (the run exists already: it is not written).
const META = createCodec(createCborFormat()).encode({ format: META_FORMAT, program: 'fanout-client', incarnation: '0'.repeat(32), replicas: null })

const [url, run, countArg, slotsArg, ...rest] = process.argv.slice(2)
const flag = (name, dflt) => {
  const i = rest.indexOf(`--${name}`)
  return i >= 0 ? rest[i + 1] : dflt
}
const COUNT = Number(countArg)
const SLOTS = Number(slotsArg)
const label = flag('label', `p${process.pid}`)
const concurrency = Number(flag('concurrency', '25'))
const recv = new Float64Array(SLOTS * COUNT).fill(NaN)
/** How many of this process's clients have each slot. */
const got = new Uint32Array(SLOTS)
const sockets = []
let closedEarly = 0
/** Outstanding {type:'await'} requests: slot bounds to confirm once every client has every slot below. */
let awaiting = []
let complete = 0
const checkAwaiting = () => {
  while (complete < SLOTS && got[complete] === COUNT) complete++
  const due = awaiting.filter((k) => k <= complete)
  awaiting = awaiting.filter((k) => k > complete)
  for (const k of due) send({ type: 'have', below: k })
}
const monoUs = () => Number(process.hrtime.bigint()) / 1e3
const send = (m) => process.send?.(m)

function client(i) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, SUBPROTOCOL)
    sockets.push(ws)
    let ready = false
    ws.on('open', () => ws.send(encodeMessage({ type: 'hello', run, replica: `${label}-${i}`, token: '', meta: META })))
    ws.on('message', (data) => {
      const at = monoUs()
      const msg = decodeMessage(new Uint8Array(data.buffer, data.byteOffset, data.byteLength))
      switch (msg.type) {
        case 'welcome':
          return ws.send(encodeMessage({ type: 'subscribe', sub: 1, stream: 'main', from: 0 }))
        case 'caughtUp':
          ready = true
          return resolve()
        case 'slots':
          for (let j = 0; j < msg.records.length; j++) {
            const slot = msg.first + j
            if (slot < SLOTS && Number.isNaN(recv[slot * COUNT + i])) {
              recv[slot * COUNT + i] = at
              got[slot]++
            }
          }
          if (awaiting.length) checkAwaiting()
          return
        case 'error':
          return reject(new Error(`client ${i}: gateway error ${msg.code}: ${msg.message}`))
      }
    })
    ws.on('error', (err) => reject(err))
    ws.on('close', (code, reason) => {
      if (!ready) reject(new Error(`client ${i}: closed before subscribing (${code} ${reason})`))
      else closedEarly++
    })
  })
}

try {
  const t0 = process.hrtime.bigint()
  let next = 0
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < COUNT) await client(next++)
  }))
  send({ type: 'ready', count: COUNT, connectMs: Number(process.hrtime.bigint() - t0) / 1e6 })
} catch (err) {
  send({ type: 'error', message: err?.stack ?? String(err) })
  process.exit(1)
}

process.on('message', (m) => {
  if (m?.type === 'await') {
    awaiting.push(m.below)
    checkAwaiting()
  } else if (m?.type === 'report') {
    const cpu = process.cpuUsage()
    send({ type: 'report', recv, closedEarly, cpuMs: (cpu.user + cpu.system) / 1000, rss: process.memoryUsage().rss })
  } else if (m?.type === 'close') {
    for (const ws of sockets) ws.terminate()
    process.disconnect?.()
    process.exit(0)
  }
})
