/**
 * The script's `process.stdin` inside the worker: a Readable fed through a MessagePort by the host
 * (agreed input lines under `repjs run`, the real stdin under `--audit`), strictly on demand: the
 * stream asks for one chunk when it wants data and the host answers with exactly one (or null for
 * the end of input). Nothing is pushed unasked, so what the script sees does not depend on how fast
 * the lines are agreed: lines agreed while no interface reads (between a readline interface's
 * close() and the next one, say) stay in the log instead of piling up here and reaching the next
 * reader in one burst, and the end of input arrives only when the script reads past the last line.
 * The high-water mark is 0, so the stream asks only while its buffer is empty: at most one chunk is
 * ever asked for or buffered ahead of the script.
 *
 * Node's own worker stdin keeps the thread alive while paused, so a script that closes its readline
 * interface would never exit; this one holds the thread open only while the script is actually
 * reading, as the main thread's stdin does: the port is ref'd while a request is out and the stream
 * is not paused.
 *   worker → host: { read: n } (one chunk wanted; n numbers the script's input reads, see
 *   run/input-order.ts) · host → worker: a chunk (string or bytes) · null
 */
import { Readable } from 'node:stream'
import type { MessagePort } from 'node:worker_threads'

/** The message the worker's stdin sends when it wants the next chunk: `n` numbers the read. */
export interface StdinRead {
  read: number
}

/** `ticket` numbers each read among the script's input reads (default: all 0). */
export function workerStdin(port: MessagePort, ticket: () => number = () => 0): Readable {
  let ended = false
  let asked = false
  let paused = false
  const stream = new Readable({
    highWaterMark: 0,
    read() {
      if (ended || asked) return
      asked = true
      port.postMessage({ read: ticket() } satisfies StdinRead)
      if (!paused) port.ref()
    },
  })
  port.on('message', (chunk: string | Uint8Array | null) => {
    asked = false
    port.unref() // until the stream asks again (at once, when the script is still reading)
    if (chunk === null) {
      ended = true
      stream.push(null)
      port.close()
      return
    }
    stream.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk))
  })
  port.unref()
  stream.on('pause', () => {
    paused = true
    port.unref()
  })
  stream.on('resume', () => {
    paused = false
    if (asked) port.ref()
  })
  // What scripts look at on process.stdin: not a terminal, descriptor 0.
  Object.assign(stream, { isTTY: false, fd: 0 })
  return stream
}

/**
 * The host's side: answers each read from the worker with the next chunk from `next(n)` (n: the
 * read's number; null: end of input; undefined: stop answering, e.g. the replica closed). `start`
 * runs before the first answer is looked for (the script reads its input for the first time).
 */
export function serveStdin(port: MessagePort, next: (n: number) => Promise<string | Uint8Array | null | undefined>, start?: () => void): void {
  let started = false
  let done = false
  port.on('message', (m: Partial<StdinRead> | null) => {
    if (typeof m?.read !== 'number' || done) return
    if (!started) {
      started = true
      start?.()
    }
    void next(m.read).then(
      (chunk) => {
        if (chunk === undefined) return
        if (chunk === null) done = true
        port.postMessage(chunk)
      },
      () => {},
    )
  })
}
