/**
 * `repjs replay --run R [--etcd URL[,URL]] [options] script.js [args]`: run a plain script as
 * `repjs run` does (same patches, worker and bridge) against a recorded run, proposing nothing
 * (run/replay-store.ts) and without the program-id check: checking new code against an old run
 * is the point. Every agreed value, input line and run-once outcome comes from the log; run-once
 * calls are not run again. Reports, on stderr:
 *   - the first divergence: the slot, what the log holds and what the script asked for, with
 *     both call sites; exit EXIT_DIVERGED (3);
 *   - the whole log replayed (N slots of stream main); exit 0 (or the script's own exit code);
 *   - the script ended before the end of the log: how many slots it used of how many; exit 0;
 *   - the script asked for more than was recorded: the end of the log reached at slot N, where it
 *     is stopped; exit 0.
 */
import { resolve, dirname } from 'node:path'
import { parseArgs } from 'node:util'
import { createCodec } from '../../core/codec.js'
import { describeCall, ErrorCodes, RepJSError, type CallIdentity } from '../../core/errors.js'
import { createReplica, type Replica } from '../../core/replica.js'
import { INPUT_STREAM } from '../../core/input.js'
import { createCborFormat } from '../../core/cbor-format.js'
import { flushStdout, EXIT_STOPPED, runScript } from '../run/host.js'
import { ReplayStore } from '../run/replay-store.js'
import { createEtcdStore } from '../store/etcd-store.js'
import { waitingNotice } from './unreachable.js'
import { LOG_SHAPING_OPTIONS, logShaping, splitAtScript } from './run.js'

/** Exit code of a replay that diverged from the log. */
export const EXIT_DIVERGED = 3

export const REPLAY_USAGE =
  'usage: repjs replay --run R [--etcd URL[,URL]] [--random call|batch|seed] [--median N] [--local-fs] [--once mod.fn]...\n' +
  '                    [--check-every N [--check-quorum N]] [--verbose] script.js [args]'

const say = (line: string) => process.stderr.write(`repjs replay: ${line}\n`)
const count = (n: number) => n.toLocaleString('en-US')

export async function replayCommand(argv: string[]): Promise<void> {
  const [ours, theirs] = splitAtScript(argv)
  const { values } = parseArgs({
    args: ours,
    allowPositionals: false,
    strict: true,
    options: { ...LOG_SHAPING_OPTIONS, run: { type: 'string' }, etcd: { type: 'string' }, verbose: { type: 'boolean', default: false } },
  })
  const [script, ...args] = theirs
  const run = values.run ?? process.env.REPJS_RUN
  if (!script || !run) throw new RepJSError(ErrorCodes.BAD_ARGUMENT, `repjs replay needs --run R and a script\n${REPLAY_USAGE}`)
  const shaping = logShaping(values)
  const path = resolve(script)
  const endpoints = (values.etcd ?? process.env.REPJS_ETCD ?? 'http://127.0.0.1:2379').split(',')
  const store = new ReplayStore(createEtcdStore({ endpoints }), createCodec(createCborFormat()), endpoints)
  // Opening the run waits while etcd is unreachable or has no quorum: say so after a few seconds.
  const notice = waitingNotice((line) => process.stderr.write(line + '\n'), false)
  const rep = await createReplica({
    store, format: createCborFormat(), run, program: 'repjs-replay', allowProgramMismatch: true, compareSites: false,
    // Every slot is decided by the recording: never wait for another replica to decide one.
    followWaitMs: 0, siteBase: dirname(path) + '/', onStatus: notice.onStatus,
  }).finally(notice.done)
  // Input past the recorded lines asks to end input: a proposal, which is the end of the log.
  rep.endInput()
  let inputUsed = 0
  rep.on('input', (l) => (inputUsed = l.slot + 1))
  const log = (m: string) => void (values.verbose && say(m))
  let verdict: 'diverged' | 'end' | undefined
  const code = await runScript({
    script: path, args, rep, ...shaping, quietReplay: false, eofEndsInput: false, log, terminal: false,
    onStop(err) {
      if (err.code === ErrorCodes.DIVERGED) {
        verdict = 'diverged'
        reportDivergence(err)
        return EXIT_DIVERGED
      }
      if (err.code === ErrorCodes.LOG_END) {
        verdict = 'end'
        const d = err.details as { stream: string; slot: number; asked?: CallIdentity }
        say(`the end of the recorded log reached at stream '${d.stream}' slot ${count(d.slot)}: the script asked for more than was recorded` +
          `${d.asked ? ` (${describeCall(d.asked)})` : ''}; it was stopped there`)
        return 0
      }
      say(`stopped: ${err.code}: ${err.message}`)
      return EXIT_STOPPED
    },
  })
  if (!verdict) await reportUse(rep, store, run, inputUsed, code)
  await rep.close()
  await flushStdout()
  process.exit(code)
}

function reportDivergence(err: RepJSError): void {
  const d = err.details as { stream: string; slot: number; asked?: CallIdentity; logged?: CallIdentity & { by: string }; name?: string; hash?: string; agreed?: string | null }
  if (d.asked && d.logged) {
    say(`divergence at stream '${d.stream}' slot ${count(d.slot)}`)
    process.stderr.write(`  the log holds:        ${describeCall(d.logged)}, proposed by replica ${d.logged.by}\n`)
    process.stderr.write(`  the script asked for: ${describeCall(d.asked)}\n`)
  } else {
    say(`state divergence at stream '${d.stream}' slot ${count(d.slot)} (check '${d.name}'): the script's state hash is ${d.hash}, the log holds ${d.agreed ?? 'no agreed hash'}`)
  }
}

/** The script ended by itself: did it use the whole log? */
async function reportUse(rep: Replica, store: ReplayStore, run: string, inputUsed: number, code: number): Promise<void> {
  const mainUsed = rep.status.slot
  const [main, input] = await Promise.all([store.headSlot(run, 'main'), store.headSlot(run, INPUT_STREAM)])
  const of = (used: number, head: number, stream: string) => `${count(used)} of ${count(head + 1)} slots of stream ${stream}`
  const exit = code === 0 ? '' : `; the script exited with code ${code}`
  if (mainUsed > main && inputUsed > input) {
    say(`the whole log replayed (${count(main + 1)} slots of stream main${input >= 0 ? `, ${count(input + 1)} of stream input` : ''})${exit}`)
  } else {
    say(`the script ended before the end of the log: it used ${of(mainUsed, main, 'main')}${input >= 0 ? ` and ${of(inputUsed, input, 'input')}` : ''}${exit}`)
  }
}
