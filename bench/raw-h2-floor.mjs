/**
 * Floor C of the benchmark (issue 14): the physical limit of one sequential fsync'd create-if-absent
 * Txn on this machine, as near to the wire as Node gets. A hand-rolled HTTP/2 client on a bare
 * net.Socket, no node:http2, no protobuf library: the client preface, SETTINGS (+ ACK of etcd's), one
 * big connection WINDOW_UPDATE; then per call one HEADERS frame (a fixed HPACK block: literal fields
 * without indexing, no Huffman) and one DATA frame with END_STREAM carrying the gRPC-framed
 * TxnRequest, hand-encoded as protobuf bytes (compare create_revision(key) == 0, success put(key,
 * value), failure range(key)), on a fresh key each call. Frames are read until the stream's
 * END_STREAM; the call succeeds when the stream carried a TxnResponse with `succeeded` true (the put
 * was applied; a gRPC error is a trailers-only answer, without one). etcd's PINGs and SETTINGS are
 * answered. Hand-written on purpose: it is the floor the library's own client is measured against.
 */
import net from 'node:net'

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1')
const DATA = 0x0
const HEADERS = 0x1
const RST_STREAM = 0x3
const SETTINGS = 0x4
const PING = 0x6
const GOAWAY = 0x7
const WINDOW_UPDATE = 0x8
const END_STREAM = 0x1
const ACK = 0x1
const END_HEADERS = 0x4
const PADDED = 0x8
const BIG_WINDOW = 0x7fffffff - 65535

function frame(type, flags, stream, payload = Buffer.alloc(0)) {
  const f = Buffer.allocUnsafe(9 + payload.length)
  f.writeUIntBE(payload.length, 0, 3)
  f[3] = type
  f[4] = flags
  f.writeUInt32BE(stream, 5)
  payload.copy(f, 9)
  return f
}

// ---------------------------------------------------------------- protobuf, by hand

function varint(n) {
  const out = []
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80)
    n >>>= 7
  }
  out.push(n)
  return Buffer.from(out)
}
/** A length-delimited field (wire type 2). */
const field = (no, bytes) => Buffer.concat([varint((no << 3) | 2), varint(bytes.length), bytes])

/** TxnRequest { compare: [{ result EQUAL, target CREATE, key, create_revision 0 }], success: [put], failure: [range] }. */
export function txnRequest(key, value) {
  const compare = Buffer.concat([Buffer.from([0x08, 0x00, 0x10, 0x01]), field(3, key), Buffer.from([0x28, 0x00])])
  const put = field(2, Buffer.concat([field(1, key), field(2, value)])) // RequestOp.request_put
  const range = field(1, field(1, key)) // RequestOp.request_range
  return Buffer.concat([field(1, compare), field(2, put), field(3, range)])
}

/** TxnResponse's `succeeded` (field 2), read from its top-level fields; undefined if the bytes do not parse. */
export function txnSucceeded(msg) {
  let i = 0
  let succeeded = false
  const readVarint = () => {
    let v = 0
    let shift = 0
    for (;;) {
      if (i >= msg.length) throw new RangeError('truncated varint')
      const b = msg[i++]
      v += (b & 0x7f) * 2 ** shift
      if (b < 0x80) return v
      shift += 7
    }
  }
  try {
    while (i < msg.length) {
      const tag = readVarint()
      const wire = tag & 7
      if (wire === 0) {
        const v = readVarint()
        if (tag >>> 3 === 2) succeeded = v === 1
      } else if (wire === 2) {
        const len = readVarint() // read before `i` is: `i += readVarint()` would add to the old `i`
        i += len
      }
      else return undefined
    }
    return i === msg.length ? succeeded : undefined
  } catch {
    return undefined
  }
}

/** gRPC's length-prefixed message: flag 0 (not compressed), 4-byte length, the message. */
function grpcFrame(msg) {
  const f = Buffer.allocUnsafe(5 + msg.length)
  f[0] = 0
  f.writeUInt32BE(msg.length, 1)
  msg.copy(f, 5)
  return f
}

// ---------------------------------------------------------------- HPACK, fixed

/** Literal header field without indexing, new name, no Huffman (RFC 7541 6.2.2); names and values < 127 bytes. */
const literal = (name, value) => Buffer.concat([Buffer.from([0x00, name.length]), Buffer.from(name, 'latin1'), Buffer.from([value.length]), Buffer.from(value, 'latin1')])

function txnHeaderBlock(authority) {
  return Buffer.concat([
    literal(':method', 'POST'),
    literal(':scheme', 'http'),
    literal(':path', '/etcdserverpb.KV/Txn'),
    literal(':authority', authority),
    literal('content-type', 'application/grpc'),
    literal('te', 'trailers'),
  ])
}

// ---------------------------------------------------------------- the connection

/**
 * Connect to `endpoint` (http://host:port); resolves with { txn(key, value), close() } once the
 * preface and settings are sent (etcd's SETTINGS are ACKed as they arrive).
 */
export async function rawH2Connect(endpoint) {
  const url = new URL(endpoint)
  const socket = net.connect({ host: url.hostname, port: Number(url.port), noDelay: true })
  await new Promise((resolve, reject) => {
    socket.once('connect', resolve)
    socket.once('error', reject)
  })
  const headerBlock = txnHeaderBlock(url.host)
  // Our SETTINGS: no push, a 1 GiB stream window; then the connection window opened wide.
  const settings = Buffer.alloc(12)
  settings.writeUInt16BE(0x2, 0) // ENABLE_PUSH
  settings.writeUInt32BE(0, 2)
  settings.writeUInt16BE(0x4, 6) // INITIAL_WINDOW_SIZE
  settings.writeUInt32BE(1 << 30, 8)
  const wu = Buffer.alloc(4)
  wu.writeUInt32BE(BIG_WINDOW, 0)
  socket.write(Buffer.concat([PREFACE, frame(SETTINGS, 0, 0, settings), frame(WINDOW_UPDATE, 0, 0, wu)]))

  let nextStream = 1
  let sendWindow = 65535 // etcd's connection window for what we send
  let pending // { stream, succeeded, resolve, reject }
  let failed
  let buf = Buffer.alloc(0)

  const fail = (err) => {
    failed ??= err
    const p = pending
    pending = undefined
    p?.reject(err)
    socket.destroy()
  }
  const onFrame = (type, flags, stream, payload) => {
    if (type === SETTINGS) {
      if (!(flags & ACK)) socket.write(frame(SETTINGS, ACK, 0))
    } else if (type === PING) {
      if (!(flags & ACK)) socket.write(frame(PING, ACK, 0, payload))
    } else if (type === WINDOW_UPDATE) {
      if (stream === 0) sendWindow += payload.readUInt32BE(0) & 0x7fffffff
    } else if (type === GOAWAY) {
      fail(new Error(`raw HTTP/2 floor: GOAWAY, error code ${payload.readUInt32BE(4)}`))
    } else if (pending && stream === pending.stream) {
      if (type === RST_STREAM) return fail(new Error(`raw HTTP/2 floor: RST_STREAM, error code ${payload.readUInt32BE(0)}`))
      if (type === DATA) {
        const pad = flags & PADDED ? payload[0] : 0
        const body = payload.subarray(flags & PADDED ? 1 : 0, payload.length - pad)
        // One small message per response: it arrives in one DATA frame in practice; anything else is a failure here.
        if (body.length >= 5) pending.succeeded = body.readUInt32BE(1) === body.length - 5 && txnSucceeded(body.subarray(5))
      } else if (type === HEADERS && !(flags & END_HEADERS)) {
        return fail(new Error('raw HTTP/2 floor: CONTINUATION frames are not handled'))
      }
      if (flags & END_STREAM && (type === DATA || type === HEADERS)) {
        const p = pending
        pending = undefined
        if (p.succeeded) p.resolve()
        else p.reject(new Error(`raw HTTP/2 floor: stream ${p.stream} ended without a succeeded TxnResponse (a gRPC error, or the key existed)`))
      }
    }
  }
  socket.on('data', (chunk) => {
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk
    let at = 0
    while (buf.length - at >= 9) {
      const len = buf.readUIntBE(at, 3)
      if (buf.length - at < 9 + len) break
      onFrame(buf[at + 3], buf[at + 4], buf.readUInt32BE(at + 5) & 0x7fffffff, buf.subarray(at + 9, at + 9 + len))
      at += 9 + len
    }
    buf = at === buf.length ? Buffer.alloc(0) : buf.subarray(at)
  })
  socket.on('error', fail)
  socket.on('close', () => fail(new Error('raw HTTP/2 floor: connection closed')))

  return {
    /** One create-if-absent Txn on `key` (Buffer); resolves when etcd answered it with succeeded true. */
    txn(key, value) {
      if (failed) return Promise.reject(failed)
      if (pending) return Promise.reject(new Error('raw HTTP/2 floor: one call at a time'))
      const body = grpcFrame(txnRequest(key, value))
      if (body.length > sendWindow) return Promise.reject(new Error('raw HTTP/2 floor: etcd\'s flow-control window is exhausted'))
      sendWindow -= body.length
      const stream = nextStream
      nextStream += 2
      return new Promise((resolve, reject) => {
        pending = { stream, succeeded: false, resolve, reject }
        socket.write(Buffer.concat([frame(HEADERS, END_HEADERS, stream, headerBlock), frame(DATA, END_STREAM, stream, body)]))
      })
    },
    close() {
      failed ??= new Error('raw HTTP/2 floor: closed')
      socket.destroy()
    },
  }
}

/** The floor's call on fresh keys of `run` (the keys and value bench/lib.mjs's createIfAbsent uses), over `conn`. */
export function rawCreateIfAbsent(conn, run, slotKey) {
  const value = Buffer.from('r'.repeat(60))
  let slot = 0
  return () => conn.txn(Buffer.from(slotKey(run, slot++)), value)
}
