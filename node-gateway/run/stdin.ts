/**
 * The script's `process.stdin` inside the worker: a Readable fed through a MessagePort by the host
 * (agreed input lines under `repjs run`, the real stdin under `--audit`). Node's own worker stdin
 * keeps the thread alive while paused, so a script that closes its readline interface would never
 * exit; this one holds the thread open only while the script is actually reading, as the main
 * thread's stdin does: the port is ref'd while the stream wants data and unref'd when it pauses.
 *   port messages: a chunk (string or bytes) · null for end of input
 */
import { Readable } from 'node:stream'
import type { MessagePort } from 'node:worker_threads'

export function workerStdin(port: MessagePort, onFirstRead: () => void): Readable {
  let ended = false
  let reading = false
  const stream = new Readable({
    read() {
      if (!reading) {
        reading = true
        onFirstRead() // the host starts feeding only once the script reads
      }
      if (!ended) port.ref()
    },
  })
  port.on('message', (chunk: string | Uint8Array | null) => {
    if (chunk === null) {
      ended = true
      stream.push(null)
      port.close()
      return
    }
    if (!stream.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk))) port.unref()
  })
  port.unref()
  stream.on('pause', () => port.unref())
  stream.on('resume', () => !ended && port.ref())
  // What scripts look at on process.stdin: not a terminal, descriptor 0.
  Object.assign(stream, { isTTY: false, fd: 0 })
  return stream
}
