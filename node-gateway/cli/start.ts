/**
 * `repjs start` (what `npm start` runs): a local etcd with its data under .repjs/etcd, then three
 * replicas of demo/sample.mjs on a fresh run, side by side, and etcd kept up until Ctrl-C.
 */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { portInUse, startCluster } from '../etcd/local-etcd.js'
import { ErrorCodes, RepJSError } from '../../core/errors.js'
import { ensureTool } from './ensure-tool.js'

const sample = fileURLToPath(new URL('../../../demo/sample.mjs', import.meta.url))

function runReplica(label: string, env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [sample], { env, stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    p.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d
      for (const line of d.split('\n').filter(Boolean)) process.stdout.write(`[${label}] ${line}\n`)
    })
    p.on('error', reject)
    p.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`replica ${label} exited with ${code}`))))
  })
}

export async function start(opts: { port: number; dataDir: string }): Promise<void> {
  ensureTool('etcd')
  if (await portInUse(opts.port)) {
    throw new RepJSError(ErrorCodes.SETUP, `port ${opts.port} is in use (another etcd?). Stop it, or pick another port: npm start -- --port 23790`)
  }
  process.stdout.write(`Starting etcd (data in ${opts.dataDir}) ...\n`)
  const etcd = await startCluster(1, { dataDir: opts.dataDir, clientPort: opts.port, fsync: true })
  const stop = async () => {
    await etcd.stop()
    process.exit(0)
  }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
  const run = `sample-${Date.now().toString(36)}`
  process.stdout.write(`etcd: ${etcd.endpoint}\nRunning 3 replicas of demo/sample.mjs on run '${run}':\n`)
  const env = { ...process.env, REPJS_ETCD: etcd.endpoint, REPJS_RUN: run }
  const outs = await Promise.all(['a', 'b', 'c'].map((l) => runReplica(l, env)))
  const same = outs.every((o) => o === outs[0])
  process.stdout.write(
    same ? 'All 3 replicas printed the same transcript.\n' : 'Replicas disagree: this is a bug, please report it.\n',
  )
  process.stdout.write(
    `\netcd stays up at ${etcd.endpoint}. Join the same run from another terminal:\n` +
      `  REPJS_ETCD=${etcd.endpoint} REPJS_RUN=${run} node demo/sample.mjs\n` +
      `(it replays the run and prints the same transcript). Ctrl-C stops etcd.\n`,
  )
}
