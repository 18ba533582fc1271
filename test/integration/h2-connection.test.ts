// The lean HTTP/2 connection of etcd's unary calls (store/grpc/h2-connection.ts) against servers
// this test controls: node:http2 (nghttp2: its HPACK encoder uses Huffman and the dynamic table)
// answering with trailers, Trailers-Only statuses, resets, GOAWAY, responses and requests larger
// than the flow-control windows and a max-concurrent-streams limit; and a TCP server that accepts
// and never answers (half-open): the deadline passes, the ping goes unanswered, the connection goes.
import http2 from 'node:http2'
import net from 'node:net'
import type { AddressInfo } from 'node:net'
import { expect, test } from 'vitest'
import { ErrorCodes } from '../../core/errors.js'
import { storeError } from '../../node-gateway/store/etcd-errors.js'
import { H2Connection } from '../../node-gateway/store/grpc/h2-connection.js'
import { ConnectFailed } from '../../node-gateway/store/grpc/status.js'
import { KvClient } from '../../node-gateway/store/kv-client.js'
import { watch } from '../../node-gateway/store/watch-client.js'
import { grpcFrame, useClosers } from '../helpers/h2-test.js'

type Handler = (stream: http2.ServerHttp2Stream, body: Buffer, headers: http2.IncomingHttpHeaders) => void
const closers = useClosers()
const frame = grpcFrame

/** A gRPC-like h2c server: each path's handler gets the request message (unframed). */
async function server(routes: Record<string, Handler>, settings: http2.Settings = {}, host = '127.0.0.1'): Promise<{ url: string; server: http2.Http2Server; seen: string[] }> {
  const seen: string[] = []
  const srv = http2.createServer({ settings })
  srv.on('stream', (stream, headers) => {
    const path = String(headers[':path'])
    seen.push(path)
    const parts: Buffer[] = []
    stream.on('data', (c: Buffer) => parts.push(c))
    stream.on('end', () => routes[path]!(stream, Buffer.concat(parts).subarray(5), headers))
    stream.on('error', () => {})
  })
  srv.on('sessionError', () => {})
  await new Promise<void>((r) => srv.listen(0, host, r))
  const sessions = new Set<http2.ServerHttp2Session>()
  srv.on('session', (s) => (sessions.add(s), s.on('error', () => {})))
  closers.push(() => {
    for (const s of sessions) s.destroy()
    srv.close()
  })
  return { url: `http://${host.includes(':') ? `[${host}]` : host}:${(srv.address() as AddressInfo).port}`, server: srv, seen }
}

/** Answer `msg` with grpc-status 0 in the trailers (the usual unary response). */
function reply(stream: http2.ServerHttp2Stream, msg: Buffer, extra: http2.OutgoingHttpHeaders = {}): void {
  if (stream.destroyed) return
  stream.respond({ ':status': 200, 'content-type': 'application/grpc', ...extra }, { waitForTrailers: true })
  stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }))
  stream.end(frame(msg))
}

function client(endpoints: string[], callTimeoutMs = 2000, maxResponseBytes?: number) {
  const kv = new KvClient({ endpoints, callTimeoutMs, maxResponseBytes })
  closers.push(() => kv.close())
  // The seam between the transport and the codecs: one message in, one out.
  return (path: string, msg: Buffer | string, timeoutMs?: number) => (kv as unknown as { call(p: string, m: Uint8Array, t?: number): Promise<Uint8Array> }).call(path, Buffer.from(msg), timeoutMs).then(Buffer.from)
}

test('responses are never overwritten by later reads: 300 calls in flight, answers of 1-90 KiB split across reads, kept uncopied until all are in', async () => {
  // What a call returns is a view into the bytes read (decoded keys and values are views into it
  // too): a read buffer used again while such a view is held would corrupt it.
  const body = (i: number) => Buffer.alloc(1024 + ((i * 7919) % 90_000), i % 251)
  const { url } = await server({
    '/big': (s, msg) => {
      const i = msg.readUInt32BE(0)
      const answer = frame(body(i))
      s.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true })
      s.on('wantTrailers', () => s.sendTrailers({ 'grpc-status': '0' }))
      // In two writes, so a message also ends in a later read than it starts.
      s.write(answer.subarray(0, 3 + (i % 5000)))
      s.end(answer.subarray(3 + (i % 5000)))
    },
  })
  const kv = new KvClient({ endpoints: [url], callTimeoutMs: 20_000 })
  closers.push(() => kv.close())
  const id = (i: number) => Buffer.from([i >> 24, (i >> 16) & 255, (i >> 8) & 255, i & 255])
  const got = await Promise.all(Array.from({ length: 300 }, (_, i) => kv.unary('/big', id(i))))
  got.forEach((m, i) => expect(Buffer.compare(Buffer.from(m), body(i)), `response ${i}`).toBe(0))
})

test('an IPv6 literal endpoint: connected to, and named in brackets in :authority', async () => {
  const { url } = await server({ '/authority': (s, _body, headers) => reply(s, Buffer.from(String(headers[':authority']))) }, {}, '::1')
  expect(url).toMatch(/^http:\/\/\[::1\]:\d+$/)
  expect((await client([url])('/authority', '')).toString()).toBe(url.slice('http://'.length))
})

async function failure(p: Promise<unknown>): Promise<Error> {
  try {
    await p
  } catch (err) {
    return err as Error
  }
  throw new Error('expected the call to fail')
}

test('unary calls: echo with trailers, Trailers-Only statuses, headers decoded as nghttp2 encodes them', async () => {
  const { url } = await server({
    '/echo': (s, body) => reply(s, body),
    // A status with a percent-encoded message and changing extra headers: the dynamic table churns.
    '/status': (s, body) => {
      const [code, text, pad] = JSON.parse(body.toString()) as [string, string, string]
      s.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': code, 'grpc-message': encodeURIComponent(text), 'x-pad': pad }, { endStream: true })
    },
    '/http': (s) => s.respond({ ':status': 503 }, { endStream: true }),
  })
  const call = client([url])
  expect((await call('/echo', 'hello')).toString()).toBe('hello')
  expect((await call('/echo', '')).length).toBe(0)
  for (let i = 0; i < 200; i++) {
    const text = `etcdserver: ${'mvcc: ✓ %x'.repeat(i % 7)} #${i}`
    const err = await failure(call('/status', JSON.stringify([String(3 + (i % 3)), text, 'p'.repeat((i * 37) % 900)])))
    expect(err.message).toBe(text)
  }
  const notFound = await failure(call('/status', JSON.stringify(['5', 'requested lease not found', ''])))
  expect(storeError(notFound, 'x').retryable).toBe(false)
  const http = await failure(call('/http', 'x'))
  expect(http.message).toMatch(/HTTP status 503/)
  expect(storeError(http, 'x').retryAs).toBe('reconnecting')
})

test('flow control: a 20 MiB response needs our WINDOW_UPDATEs, a 3 MiB request waits for the server\'s', async () => {
  const big = Buffer.alloc(20 << 20, 3)
  const { url } = await server({
    '/big': (s) => reply(s, big),
    '/len': (s, body) => reply(s, Buffer.from(String(body.length) + ':' + body.subarray(-4).toString('hex'))),
  })
  const call = client([url], 20_000, 32 << 20)
  for (let i = 0; i < 2; i++) expect((await call('/big', 'x')).equals(big)).toBe(true)
  const req = Buffer.alloc(3 << 20, 9)
  req.write('tail', req.length - 4)
  expect((await call('/len', req)).toString()).toBe(`${req.length}:${Buffer.from('tail').toString('hex')}`)
  // Over the response cap: RESOURCE_EXHAUSTED, and the connection goes on.
  const small = client([url], 20_000, 1 << 20)
  expect(storeError(await failure(small('/big', 'x')), 'x').details.tooLarge).toBe(true)
  expect((await small('/len', 'abcd')).toString()).toBe('4:61626364')
}, 60_000)

test('max concurrent streams: calls beyond the server\'s limit wait their turn', async () => {
  let open = 0
  let most = 0
  const { url } = await server(
    {
      '/slow': (s, body) => {
        most = Math.max(most, ++open)
        setTimeout(() => (open--, reply(s, body)), 20)
      },
    },
    { maxConcurrentStreams: 2 },
  )
  const call = client([url])
  await call('/slow', 'warm') // the server's SETTINGS are in
  const res = await Promise.all(Array.from({ length: 7 }, (_, i) => call('/slow', `m${i}`)))
  expect(res.map(String)).toEqual(Array.from({ length: 7 }, (_, i) => `m${i}`))
  expect(most).toBe(2)
})

test('RST_STREAM before a status is UNAVAILABLE (REFUSED_STREAM: retried on the next endpoint); GOAWAY fails unprocessed calls over to the next endpoint', async () => {
  const a = await server({
    '/reset': (s) => s.close(http2.constants.NGHTTP2_CANCEL),
    '/refused': (s) => s.close(http2.constants.NGHTTP2_REFUSED_STREAM),
    '/echo': (s, body) => reply(s, Buffer.from(`a:${body}`)),
    // The server will not process this stream (last stream id below it) and closes the connection.
    '/goaway': (s) => s.session!.goaway(http2.constants.NGHTTP2_NO_ERROR, s.id! - 2),
  })
  const b = await server({
    '/goaway': (s, body) => reply(s, Buffer.from(`b:${body}`)),
    '/echo': (s, body) => reply(s, Buffer.from(`b:${body}`)),
    '/refused': (s, body) => reply(s, Buffer.from(`b:${body}`)),
  })
  const call = client([a.url, b.url])
  const reset = await failure(call('/reset', 'x'))
  expect(reset.message).toMatch(/CANCEL/)
  expect(storeError(reset, 'x').retryAs).toBe('reconnecting')
  // A refused stream was not processed (RFC 9113 8.7): the call goes on to b within its deadline.
  expect((await client([a.url, b.url])('/refused', 'r')).toString()).toBe('b:r')
  // The reset moved calls to b; back to a through b's GOAWAY would need another failure, so use a fresh client.
  const call2 = client([a.url, b.url])
  expect((await call2('/echo', '1')).toString()).toBe('a:1')
  expect((await call2('/goaway', '2')).toString()).toBe('b:2') // not processed by a: retried on b within the call
  expect((await call2('/echo', '3')).toString()).toBe('b:3') // later calls stay on b
  expect(b.seen).toEqual(['/refused', '/goaway', '/echo'])
})

test('a half-open connection: the deadline passes, the ping goes unanswered, the connection is dropped', async () => {
  const sockets: net.Socket[] = []
  let closed = 0
  const silent = net.createServer((s) => {
    sockets.push(s)
    s.on('data', () => {}) // read everything, answer nothing
    s.on('close', () => closed++)
  })
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r))
  closers.push(() => (sockets.forEach((s) => s.destroy()), silent.close()))
  const call = client([`http://127.0.0.1:${(silent.address() as AddressInfo).port}`], 300)
  const t0 = Date.now()
  const err = await failure(call('/x', 'x'))
  expect(Date.now() - t0).toBeLessThan(1000)
  expect(err.message).toMatch(/Deadline exceeded after \d+ ms/)
  expect(storeError(err, 'x').retryAs).toBe('waiting-for-quorum')
  // The ping after the deadline (1 s) is not answered: the connection is closed.
  await expect.poll(() => closed, { timeout: 5000 }).toBe(1)
  // The next call opens a new connection.
  await failure(call('/x', 'x', 100))
  expect(sockets).toHaveLength(2)
})

test('the server\'s PINGs are answered: idle, and while a call is in flight', async () => {
  const pinged: Promise<number>[] = []
  const ping = (session: http2.Http2Session) =>
    new Promise<number>((resolve, reject) => session.ping((err, ms) => (err ? reject(err) : resolve(ms))))
  const { url, server: srv } = await server({
    '/echo': (s, body) => {
      pinged.push(ping(s.session!))
      setTimeout(() => reply(s, body), 30)
    },
  })
  const sessions: http2.ServerHttp2Session[] = []
  srv.on('session', (s) => sessions.push(s))
  const call = client([url])
  expect((await call('/echo', 'a')).toString()).toBe('a')
  expect((await call('/echo', 'b')).toString()).toBe('b')
  pinged.push(ping(sessions[0]!)) // idle: no write to ride on
  const rtts = await Promise.all(pinged)
  expect(rtts).toHaveLength(3)
  for (const ms of rtts) expect(ms).toBeLessThan(1000)
})

test('deadlines: calls in flight on one connection each end at their own deadline, the others go on', async () => {
  const { url } = await server({ '/hang': () => {}, '/echo': (s, body) => setTimeout(() => reply(s, body), 400) })
  const call = client([url], 5000)
  await call('/echo', 'connected')
  const t0 = Date.now()
  const ended: [string, number][] = []
  const track = (name: string, p: Promise<unknown>) => p.then(() => ended.push([name, Date.now() - t0]), () => ended.push([`${name} failed`, Date.now() - t0]))
  await Promise.all([track('300', call('/hang', 'x', 300)), track('100', call('/hang', 'x', 100)), track('echo', call('/echo', 'y', 2000)), track('200', call('/hang', 'x', 200))])
  expect(ended.map(([n]) => n)).toEqual(['100 failed', '200 failed', '300 failed', 'echo'])
  for (const [n, at] of ended.slice(0, 3)) expect(at, n).toBeGreaterThanOrEqual(Number(n.split(' ')[0]) - 1)
})

test('close() fails calls in flight with CLOSED; stream ids near 2^31 retire the connection', async () => {
  const { url } = await server({ '/hang': () => {}, '/echo': (s, body) => reply(s, body) })
  const kv = new KvClient({ endpoints: [url], callTimeoutMs: 5000 })
  const pending = (kv as unknown as { call(p: string, m: Uint8Array): Promise<Uint8Array> }).call('/hang', Buffer.from('x'))
  await new Promise((r) => setTimeout(r, 50))
  kv.close()
  expect(storeError(await failure(pending), 'x').code).toBe(ErrorCodes.CLOSED)

  // A connection retired by a GOAWAY that lets its call finish is still reached by close().
  const { url: draining } = await server({ '/drain': (s) => void s.session!.goaway(http2.constants.NGHTTP2_NO_ERROR, s.id!) })
  const kv2 = new KvClient({ endpoints: [draining], callTimeoutMs: 5000 })
  const held = (kv2 as unknown as { call(p: string, m: Uint8Array): Promise<Uint8Array> }).call('/drain', Buffer.from('x'))
  await new Promise((r) => setTimeout(r, 100)) // the GOAWAY is in: the connection is draining
  const t0 = Date.now()
  kv2.close()
  expect(storeError(await failure(held), 'x').code).toBe(ErrorCodes.CLOSED)
  expect(Date.now() - t0).toBeLessThan(1000)

  const { hostname, port } = new URL(url)
  const conn = new H2Connection(url, hostname, Number(port), { dialTimeoutMs: 1000, firstStreamId: 0x7ffffffd })
  closers.push(() => conn.close(() => new Error('test over')))
  await conn.ready
  const deadline = performance.now() + 2000
  expect((await conn.unary('/echo', Buffer.from('one'), deadline, 2000, 1 << 20)).toString()).toBe('one')
  expect(conn.usable).toBe(true)
  expect((await conn.unary('/echo', Buffer.from('two'), deadline, 2000, 1 << 20)).toString()).toBe('two') // stream 2^31-1
  expect(conn.usable).toBe(false)
  expect(await failure(conn.unary('/echo', Buffer.from('three'), deadline, 2000, 1 << 20))).toBeInstanceOf(ConnectFailed)
})

test("a watch's own read error (RESOURCE_EXHAUSTED: a response over its cap) keeps the calls on their endpoint; a lost connection moves them", async () => {
  const echo: Handler = (stream, body) => reply(stream, Buffer.concat([Buffer.from('a:'), body]))
  const a = await server({ '/echo': echo, '/etcdserverpb.Watch/Watch': () => {} })
  const b = await server({ '/echo': (stream, body) => reply(stream, Buffer.concat([Buffer.from('b:'), body])) })
  const sessions: http2.Http2Session[] = []
  a.server.on('stream', (s, h) => {
    if (h[':path'] !== '/etcdserverpb.Watch/Watch') return
    sessions.push(s.session!)
    s.respond({ ':status': 200, 'content-type': 'application/grpc' })
    s.write(frame(Buffer.alloc(100)))
  })
  const kv = new KvClient({ endpoints: [a.url, b.url], callTimeoutMs: 2000 })
  closers.push(() => kv.close())
  const call = (msg: string) => (kv as unknown as { call(p: string, m: Uint8Array): Promise<Uint8Array> }).call('/echo', Buffer.from(msg)).then(String)
  const ended = (maxResponseBytes: number) => new Promise<Error>((error) => watch(kv, { key: 'k' }, { error }, { maxResponseBytes }).unref())
  const err = await ended(10)
  expect(err.constructor.name).toBe('GRPCResourceExhaustedError')
  expect(await call('1')).toBe('a:1')
  // The connection lost under a watch: later calls go to the next endpoint.
  const lost = ended(1000)
  await expect.poll(() => sessions.length).toBe(2)
  sessions[1]!.destroy()
  expect((await lost).constructor.name).toBe('GRPCUnavailableError')
  expect(await call('2')).toBe('b:2')
})
