/** Gateway processes for tests: `repjs gateway` on a free port, stopped by PID. */
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { freePort } from './etcd.js'

const cli = fileURLToPath(new URL('../../dist/node-gateway/cli/main.js', import.meta.url))

export interface GatewayProc {
  url: string
  port: number
  proc: ChildProcess
  stderr: string
  exited: Promise<number | null>
  kill(signal?: NodeJS.Signals): Promise<number | null>
}

export async function spawnGateway(etcd: string, opts: { port?: number; env?: Record<string, string>; args?: string[] } = {}): Promise<GatewayProc> {
  const port = opts.port ?? (await freePort())
  const proc = spawn(process.execPath, [cli, 'gateway', '--etcd', etcd, '--port', String(port), ...(opts.args ?? [])], {
    env: { ...process.env, REPJS_LOG_LEVEL: 'warn', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const g: GatewayProc = {
    url: `ws://127.0.0.1:${port}`,
    port,
    proc,
    stderr: '',
    exited: new Promise((resolve) => proc.once('exit', (code) => resolve(code))),
    async kill(signal = 'SIGKILL') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal)
      return g.exited
    },
  }
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (g.stderr += d))
  await new Promise<void>((resolve, reject) => {
    let out = ''
    proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d
      if (out.includes('Gateway: ')) resolve()
    })
    void g.exited.then((code) => reject(new Error(`gateway exited with ${code}: ${g.stderr}`)))
  })
  return g
}
