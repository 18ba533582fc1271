/** `repjs run [options] script.js [args]`: an unmodified Node script as one replica of a run. */
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { ErrorCodes, RepJSError } from '../../core/errors.js'
import { fingerprint } from '../../core/hash.js'
import type { RandomMode } from '../../core/random.js'
import { connect } from '../index.js'
import { runScript } from '../run/host.js'

const BOOLEAN = new Set(['--local-fs', '--quiet-replay', '--eof-ends-input', '--verbose'])

/** Our options come before the script; everything from the script on belongs to the script. */
function splitAtScript(argv: string[]): [string[], string[]] {
  let i = 0
  while (i < argv.length && argv[i]!.startsWith('--')) i += BOOLEAN.has(argv[i]!) || argv[i]!.includes('=') ? 1 : 2
  return [argv.slice(0, i), argv.slice(i)]
}

export async function runCommand(argv: string[]): Promise<void> {
  const [ours, theirs] = splitAtScript(argv)
  const { values } = parseArgs({
    args: ours,
    allowPositionals: true,
    strict: true,
    options: {
      run: { type: 'string' }, etcd: { type: 'string' }, gateway: { type: 'string' }, token: { type: 'string' },
      program: { type: 'string' }, random: { type: 'string', default: 'call' }, median: { type: 'string' },
      'local-fs': { type: 'boolean', default: false }, once: { type: 'string', multiple: true, default: [] },
      'quiet-replay': { type: 'boolean', default: false }, 'eof-ends-input': { type: 'boolean', default: false },
      verbose: { type: 'boolean', default: false }, name: { type: 'string' },
    },
  })
  const [script, ...args] = theirs
  if (!script) throw new RepJSError(ErrorCodes.BAD_ARGUMENT, 'usage: repjs run --run R (--etcd URL | --gateway URL [--token T]) script.js [args]')
  const run = values.run ?? process.env.REPJS_RUN
  if (!run) throw new RepJSError(ErrorCodes.BAD_ARGUMENT, 'repjs run needs --run R (or REPJS_RUN): the run id every replica of this program shares')
  if (!['call', 'batch', 'seed'].includes(values.random!)) throw new RepJSError(ErrorCodes.BAD_ARGUMENT, `--random must be call, batch or seed`)
  const log = (m: string) => values.verbose && process.stderr.write(`repjs: ${m}\n`)
  const path = resolve(script)
  const rep = await connect({
    run,
    ...(values.gateway ? { gateway: values.gateway.split(','), token: values.token ?? process.env.REPJS_TOKEN } : { etcd: (values.etcd ?? process.env.REPJS_ETCD ?? 'http://127.0.0.1:2379').split(',') }),
    program: values.program ?? `script:${fingerprint(readFileSync(path))}`,
    name: values.name,
  })
  rep.on('status', (s) => log(`${s.state} slot ${s.slot} head ${s.head}${s.reason ? ` (${s.reason})` : ''}`))
  const code = await runScript({
    script: path, args, rep, random: values.random as RandomMode,
    medianQuorum: values.median ? Number(values.median) : undefined,
    localFs: values['local-fs']!, once: values.once!, quietReplay: values['quiet-replay']!, eofEndsInput: values['eof-ends-input']!, log,
  })
  await rep.close()
  process.exit(code)
}
