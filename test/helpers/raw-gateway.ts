/**
 * A raw repjs.v1 client for gateway tests: a plain `ws` socket, frames built with encodeMessage and
 * read with decodeMessage, nothing of GatewayStore's reconnect logic. Lets a test send exactly the
 * frames (or bytes) it wants and see exactly what the gateway answers and how it closes.
 */
import WebSocket from 'ws'
import { createCodec } from '../../core/codec.js'
import { decodeMessage, encodeMessage, SUBPROTOCOL, type Message } from '../../core/protocol.js'
import { encodeRecord, encodeVote, META_FORMAT, type RecordPlace } from '../../core/record.js'
import { createCborFormat } from '../../core/cbor-format.js'

export const codec = createCodec(createCborFormat())

/** Run meta as a real replica proposes it (the gateway checks that it is a run record). */
export function runMeta(program = 'raw-test'): Uint8Array {
  return codec.encode({ format: META_FORMAT, program, incarnation: '00112233445566778899aabbccddeeff', replicas: null })
}

/**
 * A slot record as a replica encodes it for the place it is written to; the gateway stores it only
 * if it names that place and `by` is the connection's replica id ('raw' for openHello's default).
 */
export function rawRecord(at: RecordPlace, value: unknown, by = 'raw', name = 'f'): Uint8Array {
  return encodeRecord(codec, at, { kind: 'call', name, argsHash: '-', site: '', by, ok: true, value })
}

/** A vote as a replica encodes it (the gateway stores it only for its place and as the connection's replica). */
export function rawVote(at: RecordPlace, value: unknown, voter = 'raw'): Uint8Array {
  return encodeVote(codec, at, voter, value)
}

export function helloFrame(run: string, token = '', replica = 'raw'): Uint8Array {
  return encodeMessage({ type: 'hello', run, replica, token, meta: runMeta() })
}

export interface Closed {
  code: number
  reason: string
}

export interface RawClient {
  ws: WebSocket
  /** Every frame received, decoded (undecodable frames are kept as `undefined`). */
  frames: (Message | undefined)[]
  closed: Promise<Closed>
  isClosed(): boolean
  send(msg: Message): void
  sendRaw(data: Uint8Array | string): void
  /** The first frame (already received or future) matching `pred`. */
  next<T extends Message = Message>(pred: (m: Message) => boolean, ms?: number): Promise<T>
  close(code?: number): void
}

export interface RawOptions {
  protocols?: string[]
  origin?: string
  timeoutMs?: number
}

export function openRaw(url: string, opts: RawOptions = {}): Promise<RawClient> {
  const ws = new WebSocket(url, opts.protocols ?? [SUBPROTOCOL], { origin: opts.origin, handshakeTimeout: opts.timeoutMs ?? 5000 })
  const frames: (Message | undefined)[] = []
  const waiters = new Set<() => void>()
  let done: Closed | undefined
  const closed = new Promise<Closed>((resolve) => {
    ws.on('close', (code, reason) => {
      done = { code, reason: reason.toString() }
      resolve(done)
      for (const w of waiters) w()
    })
  })
  ws.on('error', () => {})
  ws.on('message', (data: Buffer) => {
    let m: Message | undefined
    try {
      m = decodeMessage(new Uint8Array(data.buffer, data.byteOffset, data.byteLength))
    } catch {
      m = undefined
    }
    frames.push(m)
    for (const w of waiters) w()
  })
  const client: RawClient = {
    ws,
    frames,
    closed,
    isClosed: () => done !== undefined,
    send: (msg) => ws.send(encodeMessage(msg)),
    sendRaw: (data) => ws.send(data, { binary: typeof data !== 'string' }),
    next<T extends Message>(pred: (m: Message) => boolean, ms = 5000): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        let seen = 0
        const check = () => {
          for (; seen < frames.length; seen++) {
            const f = frames[seen]
            if (f && pred(f)) {
              finish()
              return resolve(f as T)
            }
          }
          if (done) {
            finish()
            reject(new Error(`connection closed (${done.code} ${done.reason}) before the expected frame; got ${JSON.stringify(frames.map((f) => f?.type))}`))
          }
        }
        const timer = setTimeout(() => {
          finish()
          reject(new Error(`timed out waiting for a frame; got ${JSON.stringify(frames.map((f) => f?.type))}`))
        }, ms)
        const finish = () => {
          clearTimeout(timer)
          waiters.delete(check)
        }
        waiters.add(check)
        check()
      })
    },
    close: (code = 1000) => ws.close(code),
  }
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(client))
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)))
    ws.once('error', reject)
  })
}

/** Open, say hello, wait for WELCOME. */
export async function openHello(url: string, run: string, token = '', replica = 'raw'): Promise<RawClient> {
  const c = await openRaw(url)
  c.sendRaw(helloFrame(run, token, replica))
  await c.next((m) => m.type === 'welcome')
  return c
}

/** An upgrade the gateway refuses: its HTTP status and body. */
export function refusedUpgrade(url: string, protocols: string[], origin?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, { origin })
    ws.on('error', () => {})
    ws.once('open', () => {
      ws.terminate()
      reject(new Error('the upgrade was accepted'))
    })
    ws.once('unexpected-response', (_req, res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => (body += d))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
      res.on('error', () => resolve({ status: res.statusCode ?? 0, body }))
    })
  })
}

/** Wait until `cond` holds, polling. */
export async function until(cond: () => boolean | Promise<boolean>, ms = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

/** The value of a Prometheus sample line (`name{labels} value`), or undefined. */
export function metric(text: string, sample: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(sample + ' ')) return Number(line.slice(sample.length + 1))
  }
  return undefined
}

export function httpUrl(wsUrl: string): string {
  return wsUrl.replace(/^ws/, 'http')
}
