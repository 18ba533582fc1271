/** Spawn replica processes of a fixture program and collect their output. */
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'

export const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url))

export interface ReplicaProc {
  proc: ChildProcess
  stdout: string
  stderr: string
  exited: Promise<number | null>
  /** Resolves when stdout has at least `n` lines. */
  lines(n: number): Promise<string[]>
  kill(): Promise<void>
}

export function startReplica(script: string, env: Record<string, string>, args: string[] = [], stdin: 'ignore' | 'pipe' = 'ignore'): ReplicaProc {
  const proc = spawn(process.execPath, [fixture(script), ...args], { env: { ...process.env, ...env }, stdio: [stdin, 'pipe', 'pipe'] })
  const r: ReplicaProc = {
    proc,
    stdout: '',
    stderr: '',
    exited: new Promise((resolve) => proc.once('exit', (code) => resolve(code))),
    lines(n) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const ls = r.stdout.split('\n').filter(Boolean)
          if (ls.length >= n) {
            proc.stdout!.off('data', check)
            resolve(ls)
          }
        }
        proc.stdout!.on('data', check)
        void r.exited.then(() => {
          check()
          reject(new Error(`replica exited before printing ${n} lines; stdout:\n${r.stdout}\nstderr:\n${r.stderr}`))
        })
        check()
      })
    },
    async kill() {
      if (proc.exitCode !== null || proc.signalCode !== null) return
      proc.kill('SIGKILL')
      await r.exited
    },
  }
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => (r.stdout += d))
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (r.stderr += d))
  return r
}

/** Wait for exit and fail loudly with the replica's stderr if it did not exit 0. */
export async function finished(r: ReplicaProc): Promise<string> {
  const code = await r.exited
  if (code !== 0) throw new Error(`replica exited with ${code}; stderr:\n${r.stderr}`)
  return r.stdout
}
