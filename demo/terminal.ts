/**
 * The flight display as a Node terminal replica (`npm run demo:terminal`): the same program as
 * the browser tabs (demo/app.ts) with a readline prompt. A line typed here races the tabs' lines
 * for the next input slot; lines typed in a tab appear here as if typed here, marked with who
 * typed them.
 *
 * Where it connects (environment):
 *   REPJS_GATEWAY  gateway URL(s), comma-separated (default: the one `npm start` last started,
 *                  from .repjs/demo.json, else ws://127.0.0.1:7420)
 *   REPJS_ETCD     join through etcd directly instead (when REPJS_GATEWAY is not set)
 *   REPJS_RUN      run id (default: the run `npm start` last started)
 *   REPJS_TOKEN    run token, for a gateway that requires one
 *   REPJS_NAME     the name shown with the lines typed here (default term-xxxx)
 * In your own project import from 'repjs' instead of the relative path below.
 */
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { attachTerminal, connect, RepJSError, type Replica } from '../node-gateway/index.js'
import { formatClock, PROGRAM, runFlightDisplay, summary } from './app.js'

interface Saved {
  gateway?: string
  run?: string
}

function savedDemo(): Saved {
  try {
    return JSON.parse(readFileSync(resolve(process.env.REPJS_DEMO_FILE ?? '.repjs/demo.json'), 'utf8')) as Saved
  } catch {
    return {}
  }
}

const env = process.env
const saved = savedDemo()
const run = env.REPJS_RUN ?? saved.run
if (!run) {
  process.stderr.write('demo:terminal: no run to join. Start the demo first (npm start), or set REPJS_RUN (and REPJS_GATEWAY or REPJS_ETCD).\n')
  process.exit(2)
}
const name = env.REPJS_NAME ?? `term-${randomBytes(2).toString('hex')}`
const useEtcd = !env.REPJS_GATEWAY && Boolean(env.REPJS_ETCD)
const gateway = (env.REPJS_GATEWAY ?? saved.gateway ?? 'ws://127.0.0.1:7420').split(',')
const tty = Boolean(process.stdout.isTTY)
const PROMPT = 'flight> '
let leaving = false

let rep: Replica
try {
  rep = await connect({
    run,
    program: PROGRAM,
    name,
    ...(useEtcd ? { etcd: env.REPJS_ETCD!.split(',') } : { gateway, token: env.REPJS_TOKEN }),
  })
} catch (err) {
  const code = RepJSError.is(err) ? ` [${err.code}]` : ''
  process.stderr.write(`demo:terminal: could not join run '${run}': ${err instanceof Error ? err.message : String(err)}${code}\n`)
  process.exit(1)
}

process.stderr.write(
  `Flight display, run '${run}' as ${name} via ${useEtcd ? env.REPJS_ETCD : gateway.join(', ')}.\n` +
    `Type help for commands. Ctrl-C leaves; Ctrl-D ends input for every replica.\n`,
)
rep.on('status', (s) => {
  if (s.state !== 'live' && !leaving) process.stderr.write(`[${s.state}${s.reason ? `: ${s.reason}` : ''}]\n`)
})

const prompt = () => tty && process.stdout.write(PROMPT)
// Lines typed on other replicas are echoed as if typed here (on a terminal), marked with who typed them.
const detach = attachTerminal(rep, { echoPrefix: tty ? '\r' + PROMPT : '> ' })
const program = runFlightDisplay(rep, {
  onState(state, _hash, l, at) {
    const entry = state.log.at(-1)
    const reply = entry && entry.line === l.line?.trim() ? entry.reply : ''
    process.stdout.write(`  [${formatClock(at)}] #${l.slot} ${l.who}: ${l.line} → ${reply}  |  ${summary(state)}\n`)
    prompt()
  },
  onEnd() {
    process.stdout.write('input ended for every replica\n')
  },
  onError(err) {
    process.stderr.write(`demo:terminal: ${err instanceof Error ? err.message : String(err)}\n`)
  },
})
prompt()

async function leave(code: number): Promise<void> {
  if (leaving) return
  leaving = true
  program.stopClock()
  detach()
  const hard = setTimeout(() => process.exit(code), 3000)
  hard.unref()
  await rep.close().catch(() => {})
  process.exit(code)
}
process.once('SIGINT', () => void leave(0))
process.once('SIGTERM', () => void leave(0))
await program.done
await leave(0)
