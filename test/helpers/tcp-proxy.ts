/**
 * An in-process TCP proxy on 127.0.0.1 for fault injection, controlled by the test:
 *  - cut(): drop every open connection and refuse new ones until restore();
 *  - blackHole(): keep connections open but deliver nothing either way (a half-open link), new ones too;
 *  - silence(): the connections open now carry nothing more (half-open), later ones work;
 *  - setDelay(ms): latency on every chunk, both ways; drop(p): reset a connection at a chunk with probability p;
 *  - isolate(tags): black-hole only the connections whose first bytes contain one of `tags` (e.g. etcd's
 *    `X-Server-From: <member id>` header, to cut one member's outgoing peer traffic).
 * A fault applies to open connections at once. restore() clears every fault.
 */
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
  silence(): void
  /** Accept and hold connections but pass no byte either way until restore() (then they are dropped). */
  blackHole(): void
  /** Black-hole connections whose first chunk from the client contains one of these strings. */
  isolate(tags: string[]): void
  /** Latency added to every chunk in both directions (ms). */
  setDelay(ms: number): void
  /** Reset a connection at each chunk with probability p (0 = off). */
  drop(p: number, random?: () => number): void
  restore(): void
  /** Faults applied so far (cut, blackHole, isolate, drop resets). */
  readonly faults: number
  close(): Promise<void>
}

interface Link {
  client: Socket
  upstream: Socket
  head: string
  held: boolean
  /** silence(): drop every byte from now on, both ways, closing nothing. */
  silent: boolean
}

export async function startProxy(target: { host: string; port: number }, opts: { delayMs?: number } = {}): Promise<TcpProxy> {
  let down = false
  let hole = false
  let tags: string[] = []
  let delay = opts.delayMs ?? 0
  let dropP = 0
  let rnd = Math.random
  let faults = 0
  const links = new Set<Link>()
  const isolated = (l: Link) => tags.some((t) => l.head.includes(t))
  const end = (l: Link) => {
    l.client.destroy()
    l.upstream.destroy()
    links.delete(l)
  }
  const relay = (l: Link, from: Socket, to: Socket, isClient: boolean) =>
    from.on('data', (d: Buffer) => {
      if (isClient && l.head.length < 4096) l.head += d.toString('latin1')
      if (l.silent) return
      if (hole || isolated(l)) {
        l.held = true
        return
      }
      if (dropP > 0 && rnd() < dropP) {
        faults++
        return end(l)
      }
      if (delay) setTimeout(() => to.write(d), delay)
      else to.write(d)
    })
  const server: Server = createServer((client) => {
    if (down) return client.destroy()
    const upstream = connect(target.port, target.host)
    const l: Link = { client, upstream, head: '', held: false, silent: false }
    links.add(l)
    relay(l, client, upstream, true)
    relay(l, upstream, client, false)
    const close = () => end(l)
    client.on('error', close).on('close', close)
    upstream.on('error', close).on('close', close)
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as { port: number }).port
  const dropAll = () => {
    for (const l of links) end(l)
  }
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    cut() {
      faults++
      down = true
      dropAll()
    },
    blackHole() {
      faults++
      hole = true
    },
    isolate(t) {
      faults++
      tags = t
    },
    setDelay(ms) {
      delay = ms
    },
    drop(p, random = Math.random) {
      dropP = p
      rnd = random
    },
    restore() {
      // Connections that lost bytes to a black hole cannot be resumed: drop them so both ends reconnect.
      for (const l of links) if (l.held) end(l)
      down = false
      hole = false
      tags = []
      dropP = 0
    },
    get faults() {
      return faults
    },
    silence() {
      faults++
      for (const l of links) l.silent = true
    },
    close() {
      down = true
      dropAll()
      return new Promise((r) => server.close(() => r()))
    },
  }
}
