/** Spawn `repjs run` replicas (and plain `node`) on the legacy programs of test/legacy/. */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const cli = fileURLToPath(new URL('../../dist/node-gateway/cli/main.js', import.meta.url))
export const legacy = (name: string) => fileURLToPath(new URL(`../legacy/${name}`, import.meta.url))
export const tempDir = (prefix = 'repjs-legacy-') => mkdtempSync(join(tmpdir(), prefix))

export interface Proc {
  proc: ChildProcess
  stdout: string
  stderr: string
  /** Exit code (a signal gives null), once stdout and stderr are drained too (see `settled`). */
  exited: Promise<number | null>
  /** Resolves once stdout has at least `n` non-empty lines (rejects if the process exits first). */
  lines(n: number): Promise<string[]>
  /** Resolves once stderr contains `text`. */
  stderrHas(text: string): Promise<void>
  /** Write to stdin (stdin: 'pipe'). */
  write(s: string): void
  end(): void
  kill(): Promise<void>
}

export interface SpawnOptions {
  cwd?: string
  /** A string is written to stdin and stdin is closed; 'pipe' leaves it open; default /dev/null. */
  stdin?: string | 'pipe'
  /** Extra environment variables for the script. */
  env?: Record<string, string>
}

/**
 * The exit code and signal of `proc` once it has exited AND its stdout and stderr are drained
 * ('close'; Node does not promise that at 'exit': the last lines could still be in the pipe), or
 * 5 s after the exit if a process it left behind still holds them.
 */
export function settled(proc: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve) =>
    proc.once('exit', (code, signal) => {
      const late = setTimeout(() => resolve({ code, signal }), 5000)
      proc.once('close', () => (clearTimeout(late), resolve({ code, signal })))
    }),
  )
}

export function track(proc: ChildProcess, stdinText?: string): Proc {
  const p: Proc = {
    proc,
    stdout: '',
    stderr: '',
    exited: settled(proc).then(({ code }) => code),
    lines(n) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const ls = p.stdout.split('\n').filter(Boolean)
          if (ls.length < n) return false
          proc.stdout!.off('data', check)
          resolve(ls)
          return true
        }
        if (check()) return
        proc.stdout!.on('data', check)
        void p.exited.then(() => check() || reject(new Error(`exited before printing ${n} lines; stdout:\n${p.stdout}\nstderr:\n${p.stderr}`)))
      })
    },
    stderrHas(text) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (!p.stderr.includes(text)) return false
          proc.stderr!.off('data', check)
          resolve()
          return true
        }
        if (check()) return
        proc.stderr!.on('data', check)
        void p.exited.then(() => check() || reject(new Error(`exited before saying ${JSON.stringify(text)} on stderr; stderr:\n${p.stderr}`)))
      })
    },
    write: (s) => void proc.stdin!.write(s),
    end: () => void proc.stdin!.end(),
    async kill() {
      if (proc.exitCode !== null || proc.signalCode !== null) return
      proc.kill('SIGKILL')
      await p.exited
    },
  }
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => (p.stdout += d))
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (p.stderr += d))
  if (stdinText !== undefined) proc.stdin!.end(stdinText)
  return p
}

export function spawnNode(argv: string[], opts: SpawnOptions): Proc {
  const stdin = opts.stdin === undefined ? 'ignore' : 'pipe'
  const env = { ...process.env, ...opts.env }
  delete env.REPJS_RUN
  const proc = spawn(process.execPath, argv, { cwd: opts.cwd, env, stdio: [stdin, 'pipe', 'pipe'] })
  return track(proc, opts.stdin === 'pipe' ? undefined : opts.stdin)
}

export interface RunOptions extends SpawnOptions {
  run: string
  etcd: string
  /** repjs run options before the script (e.g. ['--once', 'fs.appendFileSync']). */
  flags?: string[]
  args?: string[]
}

/** One replica: `repjs run --run R --etcd URL [flags] script [args]` (the script from test/legacy/). */
export function runReplica(script: string, o: RunOptions): Proc {
  return spawnNode([cli, 'run', '--run', o.run, '--etcd', o.etcd, ...(o.flags ?? []), legacy(script), ...(o.args ?? [])], o)
}

/** `repjs run --audit [flags] script [args]`: no etcd. */
export function audit(script: string, flags: string[] = [], args: string[] = [], opts: SpawnOptions = {}): Proc {
  return spawnNode([cli, 'run', '--audit', ...flags, legacy(script), ...args], opts)
}

/** The script without RepJS: `node script [args]`. */
export function plain(script: string, args: string[] = [], opts: SpawnOptions = {}): Proc {
  return spawnNode([legacy(script), ...args], opts)
}

export interface Outcome {
  code: number | null
  stdout: string
  stderr: string
}

export async function outcome(p: Proc): Promise<Outcome> {
  const code = await p.exited
  return { code, stdout: p.stdout, stderr: p.stderr }
}

/**
 * Three replicas of one run started together: the input (if any) is piped into the first, which
 * runs with --eof-ends-input; the others read /dev/null. Each may get its own working directory.
 */
export async function threeReplicas(script: string, o: Omit<RunOptions, 'stdin' | 'cwd'> & { input?: string; cwds?: string[] }): Promise<Outcome[]> {
  const procs = [0, 1, 2].map((i) =>
    runReplica(script, {
      ...o,
      cwd: o.cwds?.[i],
      flags: [...(o.flags ?? []), ...(i === 0 && o.input !== undefined ? ['--eof-ends-input'] : [])],
      stdin: i === 0 ? o.input : undefined,
    }),
  )
  return Promise.all(procs.map(outcome))
}

/** Every regular file under dir (relative path → contents), for comparing replicas' files. */
export function filesIn(dir: string): Record<string, string> {
  const out: Record<string, string> = {}
  const walk = (d: string, rel: string) => {
    for (const name of readdirSync(d).sort()) {
      const full = join(d, name)
      if (statSync(full).isDirectory()) walk(full, `${rel}${name}/`)
      else out[`${rel}${name}`] = readFileSync(full, 'utf8')
    }
  }
  walk(dir, '')
  return out
}
