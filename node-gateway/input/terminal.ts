/**
 * A terminal as a replica's line source: lines typed here go to `rep.typeLine`; lines typed on
 * other replicas are echoed as if typed here, marked with who typed them. Ctrl-D on a terminal
 * ends input for everyone; a pipe or /dev/null that simply ends only stops this replica
 * contributing (unless `eofEndsInput`). Lines still queued when end of input is agreed are
 * reported on stderr, never dropped silently.
 */
import { createInterface } from 'node:readline'
import type { Readable } from 'node:stream'
import type { Replica } from '../../core/replica.js'

export interface TerminalOptions {
  input?: Readable & { isTTY?: boolean }
  output?: { write(s: string): unknown }
  errors?: { write(s: string): unknown }
  /** Let the end of a pipe end input for every replica (default: only an explicit Ctrl-D does). */
  eofEndsInput?: boolean
  /** Printed before remote lines when echoing (e.g. the prompt text). */
  echoPrefix?: string
  /** Echo lines typed on other replicas (default: when output is a terminal). */
  echo?: boolean
}

export function attachTerminal(rep: Replica, opts: TerminalOptions = {}): () => void {
  const input = opts.input ?? process.stdin
  const output = opts.output ?? process.stdout
  const errors = opts.errors ?? process.stderr
  const tty = Boolean(input.isTTY)
  const echo = opts.echo ?? Boolean((output as { isTTY?: boolean }).isTTY)
  const rl = createInterface({ input, terminal: false })
  rl.on('line', (line) => rep.typeLine(line))
  rl.on('close', () => {
    if (tty || opts.eofEndsInput) rep.endInput()
  })
  const stopEcho = rep.on('input', (l) => {
    if (l.line === null) {
      const unsent = rep.pendingInput().filter((x): x is string => x !== null)
      if (unsent.length) errors.write(`repjs: input ended; ${unsent.length} line(s) typed here were not sent: ${unsent.map((x) => JSON.stringify(x)).join(', ')}\n`)
      return
    }
    if (!l.local && echo) output.write(`${opts.echoPrefix ?? ''}${l.line}   [typed on ${l.who}]\n`)
  })
  return () => {
    stopEcho()
    rl.close()
  }
}
