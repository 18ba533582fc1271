/**
 * `repjs run [options] script.js [args]`: an unmodified Node script as one replica of a run.
 * `repjs run --audit [options] script.js [args]`: run it once locally and report its
 * non-deterministic calls (no replication, no etcd).
 */
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { ErrorCodes, RepJSError } from '../../core/errors.js'
import { fingerprint } from '../../core/hash.js'
import type { RandomMode } from '../../core/random.js'
import { connect } from '../index.js'
import { auditScript } from '../run/audit.js'
import { parseDuration } from './runs.js'
import { flushStdout, resolveOnce, runScript, type RunOptions } from '../run/host.js'
import { catchUpProgress } from '../run/progress.js'
import { waitingNotice } from './unreachable.js'

const BOOLEAN = new Set(['--local-fs', '--quiet-replay', '--eof-ends-input', '--verbose', '--audit', '--new'])

export const RUN_USAGE =
  'usage: repjs run --run R (--etcd URL | --gateway URL [--token T]) [options] script.js [args]\n' +
  '       repjs run --audit [--local-fs] [--once mod.fn]... script.js [args]'

/** Our options come before the script; everything from the script on belongs to the script. */
export function splitAtScript(argv: string[]): [string[], string[]] {
  let i = 0
  while (i < argv.length && argv[i]!.startsWith('--')) {
    if (argv[i] === '--') return [argv.slice(0, i), argv.slice(i + 1)]
    i += BOOLEAN.has(argv[i]!) || argv[i]!.includes('=') ? 1 : 2
  }
  return [argv.slice(0, i), argv.slice(i)]
}

/** A whole number ≥ 1 given as an option's text, or undefined if the option is absent. */
function wholeOption(text: string | undefined, option: string, what: string): number | undefined {
  if (text === undefined) return undefined
  const n = Number(text)
  if (!(Number.isInteger(n) && n >= 1)) throw new RepJSError(ErrorCodes.BAD_ARGUMENT, `${option} takes ${what} (a whole number ≥ 1), got ${text}`)
  return n
}

/** The options that shape a script's log: `repjs run`'s, and `repjs replay`'s of a recording. */
export const LOG_SHAPING_OPTIONS = {
  random: { type: 'string', default: 'call' }, median: { type: 'string' },
  'local-fs': { type: 'boolean', default: false }, once: { type: 'string', multiple: true, default: [] as string[] },
  'check-every': { type: 'string' }, 'check-quorum': { type: 'string' },
} as const

type ShapingValues = { random?: string; median?: string; 'local-fs'?: boolean; once?: string[]; 'check-every'?: string; 'check-quorum'?: string }

/** Those options, checked, as runScript takes them. */
export function logShaping(values: ShapingValues): Pick<RunOptions, 'random' | 'medianQuorum' | 'localFs' | 'once' | 'checkEvery' | 'checkQuorum'> {
  if (!['call', 'batch', 'seed'].includes(values.random!)) throw new RepJSError(ErrorCodes.BAD_ARGUMENT, `--random must be call, batch or seed`)
  const checkEvery = wholeOption(values['check-every'], '--check-every', 'a number of agreed calls')
  const checkQuorum = wholeOption(values['check-quorum'], '--check-quorum', 'a quorum')
  if (checkQuorum !== undefined && checkEvery === undefined) throw new RepJSError(ErrorCodes.BAD_ARGUMENT, `--check-quorum goes with --check-every N`)
  return {
    random: values.random as RandomMode, medianQuorum: wholeOption(values.median, '--median', 'a quorum'),
    localFs: values['local-fs']!, once: values.once!, checkEvery, checkQuorum,
  }
}

export async function runCommand(argv: string[]): Promise<void> {
  const [ours, theirs] = splitAtScript(argv)
  const { values } = parseArgs({
    args: ours,
    allowPositionals: false,
    strict: true,
    options: {
      ...LOG_SHAPING_OPTIONS,
      run: { type: 'string' }, etcd: { type: 'string' }, gateway: { type: 'string' }, token: { type: 'string' }, program: { type: 'string' },
      'quiet-replay': { type: 'boolean', default: false }, 'eof-ends-input': { type: 'boolean', default: false },
      verbose: { type: 'boolean', default: false }, name: { type: 'string' }, audit: { type: 'boolean', default: false },
      new: { type: 'boolean', default: false }, 'run-ttl': { type: 'string' }, tz: { type: 'string' }, locale: { type: 'string' },
    },
  })
  const [script, ...args] = theirs
  if (!script) throw new RepJSError(ErrorCodes.BAD_ARGUMENT, RUN_USAGE)
  const path = resolve(script)
  let once: string[]
  try {
    once = resolveOnce(values['local-fs']!, values.once!)
  } catch (err) {
    throw new RepJSError(ErrorCodes.BAD_ARGUMENT, (err as Error).message)
  }
  if (values.audit) {
    const code = await auditScript({ script: path, args, once })
    await flushStdout()
    process.exit(code)
  }
  const run = values.run ?? process.env.REPJS_RUN
  if (!run) throw new RepJSError(ErrorCodes.BAD_ARGUMENT, `repjs run needs --run R (or REPJS_RUN): the run id every replica of this program shares\n${RUN_USAGE}`)
  const runTtlMs = values['run-ttl'] === undefined ? undefined : parseDuration(values['run-ttl'], '--run-ttl')
  const shaping = logShaping(values)
  const log = (m: string) => void (values.verbose && process.stderr.write(`repjs: ${m}\n`))
  // Connecting waits while etcd or the gateway is unreachable or has no quorum: say so once, after
  // a few seconds, even without --verbose (a silent wait looks like a hang).
  const progress = catchUpProgress(log)
  const notice = waitingNotice((line) => process.stderr.write(line + '\n'), Boolean(values.gateway))
  const rep = await connect({
    run,
    ...(values.gateway ? { gateway: values.gateway.split(','), token: values.token ?? process.env.REPJS_TOKEN } : { etcd: (values.etcd ?? process.env.REPJS_ETCD ?? 'http://127.0.0.1:2379').split(',') }),
    program: values.program ?? `script:${fingerprint(readFileSync(path))}`,
    name: values.name,
    runtime: 'repjs-run',
    newRun: values.new,
    runTtlMs,
    // The run's time zone and locale (the script's local time): the creator's, or --tz / --locale.
    timeZone: values.tz,
    locale: values.locale,
    // The program id is the script's hash unless --program says otherwise: then the code is the
    // same on every replica and so are its call sites.
    compareSites: values.program === undefined,
    // From the start: connecting waits (and says so) while etcd or the gateway is not reachable.
    onStatus: (s) => {
      notice.onStatus(s)
      if (!progress(s)) log(`${s.state} slot ${s.slot} head ${s.head}${s.reason ? ` (${s.reason})` : ''}`)
    },
  }).finally(notice.done)
  log(`run ${run} as replica ${rep.info.replicaId}${rep.info.created ? ' (created the run)' : ''}`)
  const code = await runScript({
    script: path, args, rep, ...shaping, quietReplay: values['quiet-replay']!, eofEndsInput: values['eof-ends-input']!, log,
  })
  await rep.close()
  await flushStdout()
  process.exit(code)
}
