/** An in-process TCP proxy on 127.0.0.1 for fault injection: cut and restore a path, add latency. */
import { createServer, connect, type Server, type Socket } from 'node:net'

export interface TcpProxy {
  url: string
  port: number
  /** Drop every open connection and refuse new ones until restore(). */
  cut(): void
  /**
   * Half-open: the connections open now stay open but carry nothing more, either way (bytes are
   * dropped, nothing is closed); later connections work.
   */
  blackhole(): void
  restore(): void
  close(): Promise<void>
}

export async function startProxy(target: { host: string; port: number }, opts: { delayMs?: number } = {}): Promise<TcpProxy> {
  let down = false
  const sockets = new Set<Socket>()
  const track = (s: Socket) => {
    sockets.add(s)
    s.once('close', () => sockets.delete(s))
  }
  const delay = opts.delayMs ?? 0
  const holed = new WeakSet<Socket>()
  const relay = (from: Socket, to: Socket) =>
    from.on('data', (d) => {
      if (holed.has(from)) return
      if (delay) setTimeout(() => to.write(d), delay)
      else to.write(d)
    })
  const server: Server = createServer((client) => {
    if (down) return client.destroy()
    const upstream = connect(target.port, target.host)
    track(client)
    track(upstream)
    relay(client, upstream)
    relay(upstream, client)
    const end = () => {
      client.destroy()
      upstream.destroy()
    }
    client.on('error', end).on('close', end)
    upstream.on('error', end).on('close', end)
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as { port: number }).port
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    cut() {
      down = true
      for (const s of sockets) s.destroy()
    },
    restore() {
      down = false
    },
    blackhole() {
      for (const s of sockets) holed.add(s)
    },
    close() {
      down = true
      for (const s of sockets) s.destroy()
      return new Promise((r) => server.close(() => r()))
    },
  }
}
