// What the lean HTTP/2 connection's tests share: one gRPC message frame, and things to close after each test.
import net from 'node:net'
import { afterEach } from 'vitest'

/** `msg` as one gRPC message frame (uncompressed). */
export function grpcFrame(msg: Buffer): Buffer {
  const b = Buffer.alloc(5 + msg.length)
  b.writeUInt32BE(msg.length, 1)
  msg.copy(b, 5)
  return b
}

/** A list of closers run (and emptied) after each test of the calling file. */
export function useClosers(): (() => void)[] {
  const closers: (() => void)[] = []
  afterEach(() => {
    for (const c of closers.splice(0)) c()
  })
  return closers
}

/**
 * The next `n` uncaught exceptions (a handler's throw re-thrown asynchronously), caught here
 * instead of by vitest's own listeners, which are put back after the n-th.
 */
export function nextUncaught(n = 1): Promise<Error[]> {
  const theirs = process.listeners('uncaughtException')
  process.removeAllListeners('uncaughtException')
  const got: Error[] = []
  return new Promise((resolve) => {
    const mine = (err: Error) => {
      got.push(err)
      if (got.length < n) return
      process.off('uncaughtException', mine)
      for (const l of theirs) process.on('uncaughtException', l)
      resolve(got)
    }
    process.on('uncaughtException', mine)
  })
}

/**
 * A TCP proxy to 127.0.0.1:`port` that drops the server's PING acks (node:http2 answers PINGs by
 * itself): the client's pings go unanswered while everything else flows. Answers its own port.
 */
export async function dropPingAcks(port: number, closers: (() => void)[]): Promise<number> {
  const sockets: net.Socket[] = []
  const proxy = net.createServer((client) => {
    const server = net.connect(port, '127.0.0.1')
    sockets.push(client, server)
    client.pipe(server)
    let buf = Buffer.alloc(0)
    server.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk])
      while (buf.length >= 9 && buf.length >= 9 + buf.readUIntBE(0, 3)) {
        const n = 9 + buf.readUIntBE(0, 3)
        if (!(buf[3] === 6 && buf[4]! & 1)) client.write(buf.subarray(0, n))
        buf = buf.subarray(n)
      }
    })
    for (const s of [client, server]) s.on('error', () => {}).on('close', () => (client.destroy(), server.destroy()))
  })
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r))
  closers.push(() => (sockets.forEach((s) => s.destroy()), proxy.close()))
  return (proxy.address() as net.AddressInfo).port
}
