// Streaming gRPC calls (the watches') on the lean HTTP/2 connection (store/grpc/stream-call.ts,
// h2-connection.ts) against a node:http2 server this test controls: messages split across DATA
// frames and many in one, messages sent while the stream stays open, more than 20 MiB received on
// one stream (our WINDOW_UPDATEs), how a stream ends (trailers, RST_STREAM, connection closed),
// GOAWAY while a stream is open (it goes on; the connection takes no new calls), and cancel.
import http2 from 'node:http2'
import type { AddressInfo } from 'node:net'
import { expect, test } from 'vitest'
import { storeError } from '../../node-gateway/store/etcd-errors.js'
import { H2Connection } from '../../node-gateway/store/grpc/h2-connection.js'
import { ConnectFailed } from '../../node-gateway/store/grpc/status.js'
import { dropPingAcks, grpcFrame, nextUncaught, useClosers } from '../helpers/h2-test.js'

const closers = useClosers()
const frame = grpcFrame

/** Cut a byte stream of gRPC frames into messages (the server's side). */
function messages(onMessage: (m: Buffer) => void): (chunk: Buffer) => void {
  let buf = Buffer.alloc(0)
  return (chunk) => {
    buf = Buffer.concat([buf, chunk])
    while (buf.length >= 5 && buf.length >= 5 + buf.readUInt32BE(1)) {
      onMessage(buf.subarray(5, 5 + buf.readUInt32BE(1)))
      buf = buf.subarray(5 + buf.readUInt32BE(1))
    }
  }
}

/** An h2c server handing each new stream, with its headers, to `onStream`. */
async function server(onStream: (s: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void, via = async (port: number) => port) {
  const srv = http2.createServer()
  const sessions: http2.ServerHttp2Session[] = []
  srv.on('session', (s) => (sessions.push(s), s.on('error', () => {})))
  srv.on('stream', (s, h) => (s.on('error', () => {}), onStream(s, h)))
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))
  closers.push(() => (sessions.forEach((s) => s.destroy()), srv.close()))
  const port = await via((srv.address() as AddressInfo).port)
  const conn = new H2Connection(`http://127.0.0.1:${port}`, '127.0.0.1', port, { dialTimeoutMs: 2000 })
  closers.push(() => conn.close(() => new Error('test over')))
  await conn.ready
  return { conn, sessions }
}

/** Open a stream recording what it gets; `ended` resolves with its end. */
function open(conn: H2Connection, first = 'hello', maxBytes = 4 << 20) {
  const got: Buffer[] = []
  let end!: (err: Error | undefined) => void
  const ended = new Promise<Error | undefined>((r) => (end = r))
  let ends = 0
  const call = conn.stream('/test.S/Stream', { hasleader: 'true' }, Buffer.from(first), maxBytes, {
    message: (m) => got.push(Buffer.from(m)),
    end: (err) => (ends++, end(err)),
  })
  return { call, got, ended, ends: () => ends }
}

const respond = (s: http2.ServerHttp2Stream) => s.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true })

test('messages: ours go out as the stream stays open; theirs split across DATA frames and many in one arrive whole, in order; OK trailers end it', async () => {
  let headers: http2.IncomingHttpHeaders = {}
  const received: string[] = []
  let serverStream!: http2.ServerHttp2Stream
  const { conn } = await server((s, h) => {
    headers = h
    serverStream = s
    respond(s)
    s.on('data', messages((m) => received.push(m.toString())))
  })
  const r = open(conn)
  conn.send(r.call, Buffer.from('second'))
  await expect.poll(() => received).toEqual(['hello', 'second'])
  expect(headers['hasleader']).toBe('true')
  expect(headers['grpc-timeout']).toBeUndefined() // a stream has no deadline
  expect(serverStream.readableEnded).toBe(false) // our side stays open
  // Many messages in one write (one DATA frame), then one message in three writes (three frames).
  const many = Array.from({ length: 50 }, (_, i) => frame(Buffer.from(`m${i}`)))
  serverStream.write(Buffer.concat(many))
  const big = frame(Buffer.alloc(40_000, 7))
  for (const part of [big.subarray(0, 3), big.subarray(3, 20_000), big.subarray(20_000)]) {
    await new Promise<void>((done) => serverStream.write(part, () => done()))
  }
  await expect.poll(() => r.got.length).toBe(51)
  expect(r.got.slice(0, 50).map(String)).toEqual(Array.from({ length: 50 }, (_, i) => `m${i}`))
  expect(r.got[50]!.equals(Buffer.alloc(40_000, 7))).toBe(true)
  serverStream.on('wantTrailers', () => serverStream.sendTrailers({ 'grpc-status': '0' }))
  serverStream.end()
  expect(await r.ended).toBeUndefined()
  // A status other than OK is its error.
  const { conn: c2 } = await server((s) => s.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '5', 'grpc-message': 'gone' }, { endStream: true }))
  const err = await open(c2).ended
  expect(err?.constructor.name).toBe('GRPCNotFoundError')
  expect(err?.message).toBe('gone')
})

test('flow control: more than 20 MiB on one stream needs our stream and connection WINDOW_UPDATEs; unary calls go on beside it', async () => {
  const chunk = frame(Buffer.alloc(1 << 20, 1))
  const total = 24
  const { conn } = await server((s, h) => {
    if (h[':path'] !== '/test.S/Stream') {
      s.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true })
      s.on('wantTrailers', () => s.sendTrailers({ 'grpc-status': '0' }))
      return s.end(frame(Buffer.from('unary')))
    }
    respond(s)
    let sent = 0
    const more = () => {
      while (sent < total) {
        sent++
        if (!s.write(chunk)) return void s.once('drain', more)
      }
    }
    more()
  })
  const r = open(conn, 'go', 2 << 20)
  await expect.poll(() => r.got.length, { timeout: 30_000 }).toBe(total)
  expect(r.got.every((m) => m.length === 1 << 20 && m[0] === 1)).toBe(true)
  expect((await conn.unary('/test.S/Unary', Buffer.from('x'), performance.now() + 2000, 2000, 1 << 20)).toString()).toBe('unary')
  expect(r.ends()).toBe(0)
}, 60_000)

test('RST_STREAM from the server ends the stream with a retryable UNAVAILABLE; a lost connection too', async () => {
  const streams: http2.ServerHttp2Stream[] = []
  const { conn, sessions } = await server((s) => (respond(s), streams.push(s)))
  const a = open(conn)
  const b = open(conn)
  await expect.poll(() => streams.length).toBe(2)
  streams[0]!.close(http2.constants.NGHTTP2_INTERNAL_ERROR)
  const err = await a.ended
  expect(err?.message).toMatch(/NGHTTP2_INTERNAL_ERROR/)
  expect(storeError(err, 'x').retryAs).toBe('reconnecting')
  expect(b.ends()).toBe(0)
  sessions[0]!.destroy()
  const lost = await b.ended
  expect(lost?.constructor.name).toBe('GRPCUnavailableError')
  expect(a.ends()).toBe(1)
})

test('GOAWAY while a stream is open: it goes on until the connection closes; a stream above its last id is not processed', async () => {
  const streams: http2.ServerHttp2Stream[] = []
  const { conn, sessions } = await server((s) => (respond(s), streams.push(s)))
  const r = open(conn)
  await expect.poll(() => streams.length).toBe(1)
  const id = streams[0]!.id!
  const late = open(conn, 'late') // sent before the GOAWAY arrives, above its last stream id
  sessions[0]!.goaway(http2.constants.NGHTTP2_NO_ERROR, id)
  expect(await late.ended).toBeInstanceOf(ConnectFailed)
  expect(conn.usable).toBe(false)
  expect(() => open(conn)).toThrow(ConnectFailed)
  streams[0]!.write(frame(Buffer.from('after goaway')))
  await expect.poll(() => r.got.map(String)).toEqual(['after goaway'])
  expect(r.ends()).toBe(0)
  sessions[0]!.destroy()
  expect((await r.ended)?.constructor.name).toBe('GRPCUnavailableError')
  expect(conn.closed).toBe(true)
})

test('cancel: RST_STREAM (CANCEL) reaches the server, nothing more is delivered and no end is called', async () => {
  const closed: number[] = []
  const streams: http2.ServerHttp2Stream[] = []
  const { conn } = await server((s) => {
    respond(s)
    streams.push(s)
    s.on('close', () => closed.push(s.rstCode))
  })
  const r = open(conn)
  await expect.poll(() => streams.length).toBe(1)
  streams[0]!.write(frame(Buffer.from('one')))
  await expect.poll(() => r.got.length).toBe(1)
  // Canceled from inside its own message handler, with a second message in the same frame.
  let seen = 0
  const inside = conn.stream('/test.S/Stream', undefined, Buffer.from('x'), 1 << 20, {
    message: () => (seen++, conn.cancel(inside)),
    end: () => (seen += 100),
  })
  await expect.poll(() => streams.length).toBe(2)
  streams[1]!.write(Buffer.concat([frame(Buffer.from('a')), frame(Buffer.from('b'))]))
  conn.cancel(r.call)
  streams[0]!.write(frame(Buffer.from('two')))
  await expect.poll(() => closed).toEqual([http2.constants.NGHTTP2_CANCEL, http2.constants.NGHTTP2_CANCEL])
  expect(r.got.map(String)).toEqual(['one'])
  expect(r.ends()).toBe(0)
  expect(seen).toBe(1)
  // The connection goes on.
  const again = open(conn)
  await expect.poll(() => streams.length).toBe(3)
  streams[2]!.write(frame(Buffer.from('three')))
  await expect.poll(() => again.got.map(String)).toEqual(['three'])
})

/** A unary answer ('unary', OK) after `ms`. */
function replyLater(s: http2.ServerHttp2Stream, ms: number): void {
  s.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true })
  s.on('wantTrailers', () => s.sendTrailers({ 'grpc-status': '0' }))
  setTimeout(() => s.destroyed || s.end(frame(Buffer.from('unary'))), ms)
}

const unary = (conn: H2Connection) => conn.unary('/test.S/Unary', Buffer.from('x'), performance.now() + 5000, 5000, 1 << 20).then(String)

test("a handler's throw ends only its own stream: the connection and its other calls go on, and the throw is re-thrown, not hidden", async () => {
  const closed: number[] = []
  const { conn } = await server((s, h) => {
    if (h[':path'] === '/test.S/Unary') return replyLater(s, 300)
    respond(s)
    s.on('close', () => closed.push(s.rstCode))
    if (h['which'] === 'end') {
      // Ended with NOT_FOUND after 100 ms: its end handler throws.
      s.on('wantTrailers', () => s.sendTrailers({ 'grpc-status': '5' }))
      setTimeout(() => s.end(), 100)
    } else s.write(frame(Buffer.from('m'))) // its message handler throws
  })
  const uncaught = nextUncaught(1)
  conn.stream('/test.S/Stream', { which: 'end' }, Buffer.from('x'), 1 << 20, {
    message() {},
    end() {
      throw new Error('boom in end')
    },
  })
  let ended: Error | undefined
  conn.stream('/test.S/Stream', { which: 'message' }, Buffer.from('x'), 1 << 20, {
    message() {
      throw new Error('boom in message')
    },
    end: (err) => (ended = err),
  })
  expect(await unary(conn)).toBe('unary')
  expect((await uncaught).map((e) => e.message)).toEqual(['boom in end'])
  expect(ended?.message).toBe('boom in message')
  await expect.poll(() => closed.sort()).toEqual([http2.constants.NGHTTP2_NO_ERROR, http2.constants.NGHTTP2_CANCEL].sort())
  expect(conn.closed).toBe(false)
})

test('closing the connection settles every call even when a handler throws', async () => {
  const { conn } = await server((s, h) => (h[':path'] === '/test.S/Unary' ? replyLater(s, 60_000) : respond(s)))
  const uncaught = nextUncaught(2)
  const thrower = {
    message() {},
    end(): void {
      throw new Error('boom at close')
    },
  }
  conn.stream('/test.S/Stream', undefined, Buffer.from('x'), 1 << 20, thrower)
  const r = open(conn)
  const pending = unary(conn)
  conn.stream('/test.S/Stream', undefined, Buffer.from('y'), 1 << 20, thrower)
  conn.close(() => new Error('closed by the test'))
  await expect(pending).rejects.toThrow('closed by the test')
  expect((await r.ended)?.message).toBe('closed by the test')
  expect((await uncaught).map((e) => e.message)).toEqual(['boom at close', 'boom at close'])
})

test("past a call's deadline the connection must answer a ping: any frame read counts, so a busy stream is not dropped", async () => {
  const { conn } = await server(
    (s, h) => {
      if (h[':path'] === '/test.S/Unary') return replyLater(s, 2500)
      respond(s)
      const t = setInterval(() => s.write(frame(Buffer.from('tick'))), 100)
      s.on('close', () => clearInterval(t))
    },
    (port) => dropPingAcks(port, closers),
  )
  const r = open(conn)
  await expect(conn.unary('/test.S/Unary', Buffer.from('x'), performance.now() + 200, 200, 1 << 20)).rejects.toThrow(/Deadline exceeded/)
  // The ping (1 s) is never acked, but the stream's DATA keeps coming: 1.5 s of it, and it goes on.
  const seen = r.got.length
  await expect.poll(() => r.got.length, { timeout: 5000 }).toBeGreaterThanOrEqual(seen + 15)
  expect(r.ends()).toBe(0)
  expect(conn.closed).toBe(false)
})
