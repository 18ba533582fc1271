/**
 * `repjs run --audit script.js`: run the script once, locally (no replication, no etcd), with
 * patches that only watch: every non-deterministic call the script makes is recorded with its call
 * site, then a report on stderr lists each call with its count and sites, marked
 *   agreed          what `repjs run` agrees across replicas (Date, Math.random, crypto, input…)
 *   run once        what `repjs run` runs on one replica only (shared-file operations, --once)
 *   NOT replicated  known non-deterministic calls RepJS does not handle (os.hostname,
 *                   process.pid, process.hrtime, process.env…): replicas may see different values
 * The watching patches live in the script's worker thread only and are undone by `uninstall()`.
 */
import { createRequire } from 'node:module'
import { dirname, relative, resolve } from 'node:path'
import type { Readable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { MessageChannel, Worker } from 'node:worker_threads'
import { syncBuiltinESMExports } from 'node:module'
import type { ScriptCall } from '../../core/script/calls.js'
import { installAgreedGlobals } from '../../core/script/patches.js'
import { Patcher } from '../../core/script/patcher.js'
import { DEFAULT_ONCE, onceTarget } from './patches.js'
import { serveStdin } from './stdin.js'

const require = createRequire(import.meta.url)
const workerFile = fileURLToPath(new URL('./worker.js', import.meta.url))

export type Mark = 'agreed' | 'run once' | 'NOT replicated'

/** One kind of call seen by the audit. */
export interface AuditRecord {
  name: string
  mark: Mark
  note?: string
  count: number
  /** call site (file:line relative to the script's folder) → count */
  sites: Record<string, number>
}

export type Recorder = (name: string, mark: Mark, note?: string) => void

export interface AuditPatchOptions {
  /** Functions `repjs run` would run once (as resolved from --local-fs / --once). */
  once: string[]
  /** The script's process.stdin, made on first use. */
  stdin: () => Readable
}

type Fn = (...args: unknown[]) => unknown

/** Install the watching patches in this (worker) thread; returns the function that removes them. */
export function installAudit(record: Recorder, opts: AuditPatchOptions): () => void {
  const p = new Patcher()
  const wrapped = (orig: Fn, name: string, mark: Mark, note?: string): Fn => {
    const w = function (this: unknown, ...args: unknown[]) {
      record(name, mark, note)
      return new.target ? Reflect.construct(orig, args, new.target) : orig.apply(this, args)
    }
    Object.defineProperty(w, 'name', { value: orig.name })
    Object.defineProperty(w, 'length', { value: orig.length })
    return w
  }
  const wrap = (target: object, key: string, name: string, mark: Mark, note?: string): Fn => {
    const orig = (target as Record<string, Fn>)[key]!
    const w = wrapped(orig, name, mark, note)
    p.set(target, key, w)
    return w
  }
  const getter = (target: object, key: string, name: string, mark: Mark, note?: string) => {
    const value = (target as Record<string, unknown>)[key]
    p.define(target, key, { enumerable: true, get: () => (record(name, mark, note), value) })
  }

  // Agreed under repjs run: the same patches (core/script/patches.ts), with a call that records
  // the call (as `name()`) and answers what the unpatched function would
  const real = { now: Date.now, perf: performance.now.bind(performance), random: Math.random, uuid: globalThis.crypto.randomUUID.bind(globalThis.crypto) }
  const getRandomValues = globalThis.crypto.getRandomValues.bind(globalThis.crypto)
  const watch: ScriptCall = (op, name, args) => {
    if (op === 'input') {
      record(`${name}()`, 'agreed', 'agreed input line')
      return null
    }
    record(`${name}()`, 'agreed')
    if (op === 'bytes') return getRandomValues(new Uint8Array(args[0] as number))
    return op === 'now' ? real.now() : op === 'perf' ? real.perf() : op === 'random' ? real.random() : real.uuid()
  }
  installAgreedGlobals(p, watch, { write: (text) => process.stdout.write(text) })
  const crypto = require('node:crypto') as Record<string, Fn>
  for (const f of ['randomUUID', 'randomBytes', 'randomInt', 'randomFillSync', 'randomFill']) wrap(crypto, f, `crypto.${f}()`, 'agreed')
  let stdin: Readable | undefined
  p.define(process, 'stdin', {
    enumerable: true,
    get: () => {
      record('process.stdin', 'agreed', 'agreed input lines')
      return (stdin ??= opts.stdin())
    },
  })
  wrap(require('node:readline') as object, 'createInterface', 'readline.createInterface()', 'agreed', 'reads agreed input lines')
  wrap(require('node:readline/promises') as object, 'createInterface', 'readline/promises createInterface()', 'agreed', 'reads agreed input lines')

  // Run once (or, with --local-fs, on every replica)
  const fs = require('node:fs') as Record<string, Fn> & { promises: Record<string, Fn> }
  const fsForms = (fn: string) => (fn.endsWith('Sync') ? [fn, fn.slice(0, -4)] : [fn])
  const once = new Set(opts.once)
  for (const name of new Set([...DEFAULT_ONCE, ...opts.once])) {
    const [target, fn] = onceTarget(name)
    const mark: Mark = once.has(name) ? 'run once' : 'NOT replicated'
    const note = once.has(name) ? undefined : 'runs on every replica (--local-fs or --once -name): fine only for files private to each replica'
    if (target !== fs) {
      wrap(target, fn, `${name}()`, mark, note)
      continue
    }
    for (const form of fsForms(fn)) wrap(fs, form, `fs.${form}()`, mark, note)
    if (fn.endsWith('Sync')) wrap(fs.promises, fn.slice(0, -4), `fs.promises.${fn.slice(0, -4)}()`, mark, note)
  }

  // Known non-deterministic calls repjs run does not handle
  const NOT: Mark = 'NOT replicated'
  const os = require('node:os') as Record<string, Fn>
  for (const f of ['hostname', 'uptime', 'loadavg', 'networkInterfaces', 'freemem', 'cpus', 'userInfo']) wrap(os, f, `os.${f}()`, NOT, 'differs between machines')
  getter(process, 'pid', 'process.pid', NOT, 'differs between replicas')
  getter(process, 'ppid', 'process.ppid', NOT, 'differs between replicas')
  const hrtime = process.hrtime
  const hr = wrap(process, 'hrtime', 'process.hrtime()', NOT, 'the real clock: use performance.now() or Date.now()') as Fn & { bigint?: Fn }
  hr.bigint = wrapped(hrtime.bigint, 'process.hrtime.bigint()', NOT, 'the real clock: use performance.now() or Date.now()')
  const memoryUsage = process.memoryUsage
  const mu = wrap(process, 'memoryUsage', 'process.memoryUsage()', NOT, 'differs between replicas') as Fn & { rss?: Fn }
  mu.rss = wrapped(memoryUsage.rss, 'process.memoryUsage.rss()', NOT, 'differs between replicas')
  wrap(process, 'cpuUsage', 'process.cpuUsage()', NOT, 'differs between replicas')
  wrap(process, 'uptime', 'process.uptime()', NOT, 'differs between replicas')
  for (const f of ['time', 'timeEnd', 'timeLog']) wrap(console, f, `console.${f}()`, NOT, 'prints real elapsed time')
  const readFileSync = fs.readFileSync!
  p.set(fs, 'readFileSync', function (this: unknown, ...args: unknown[]) {
    if (args[0] === 0 || args[0] === '/dev/stdin') record('fs.readFileSync(stdin)', NOT, 'reads the real stdin, not the agreed input: use process.stdin or readline')
    return readFileSync.apply(this, args)
  })
  const env = process.env
  p.set(process, 'env', new Proxy(env, {
    get(target, key) {
      if (typeof key === 'string') record(`process.env.${key}`, NOT, 'may differ between machines')
      return Reflect.get(target, key)
    },
  }))

  syncBuiltinESMExports()
  return () => {
    p.restore()
    syncBuiltinESMExports()
  }
}

export interface AuditOptions {
  script: string
  args: string[]
  /** Functions `repjs run` would run once (resolved from --local-fs and --once). */
  once: string[]
  /** Where the report goes (default stderr). */
  report?: { write(s: string): unknown }
}

/** Run the script once locally under the watching patches; print the report; resolve to its exit code. */
export async function auditScript(opts: AuditOptions): Promise<number> {
  const script = resolve(opts.script)
  const out = opts.report ?? process.stderr
  const { port1, port2 } = new MessageChannel()
  const worker = new Worker(workerFile, {
    workerData: { mode: 'audit', script, argv: opts.args, once: opts.once, siteBase: dirname(script) + '/', stdinPort: port2 },
    transferList: [port2],
    stdout: true,
    stderr: false,
  })
  worker.stdout.on('data', (chunk: Buffer) => process.stdout.write(chunk))
  let records: AuditRecord[] = []
  worker.on('message', (m: unknown) => {
    if (typeof m === 'object' && m && 'audit' in m) records = (m as { audit: AuditRecord[] }).audit
  })
  // The script reads its input: the real stdin, one chunk per read.
  const chunks: Array<Buffer | null> = []
  let wake: (() => void) | undefined
  const arrived = (c: Buffer | null) => {
    chunks.push(c)
    wake?.()
  }
  serveStdin(port1, async () => {
    while (!chunks.length) await new Promise<void>((r) => (wake = r))
    return chunks.shift()!
  }, () => {
    process.stdin.on('data', arrived)
    process.stdin.on('end', () => arrived(null))
  })
  const code = await new Promise<number>((done) => {
    worker.on('error', (err) => process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`))
    worker.on('exit', done)
  })
  port1.close()
  process.stdin.pause()
  const shown = relative(process.cwd(), script)
  out.write(formatAudit(shown && !shown.startsWith('..') ? shown : script, code, records))
  return code
}

const ORDER: Mark[] = ['NOT replicated', 'run once', 'agreed']

export function formatAudit(script: string, code: number, records: AuditRecord[]): string {
  const lines = [`repjs audit: ${script} ran once locally (exit code ${code}); non-deterministic calls seen:`]
  if (!records.length) lines.push('  (none)')
  const sorted = [...records].sort((a, b) => ORDER.indexOf(a.mark) - ORDER.indexOf(b.mark) || a.name.localeCompare(b.name))
  const nameWidth = Math.max(20, ...sorted.map((r) => r.name.length))
  for (const r of sorted) {
    const sites = Object.entries(r.sites).sort((a, b) => b[1] - a[1])
    const shown = sites.slice(0, 6).map(([s, n]) => (sites.length > 1 ? `${s} (${n}×)` : s))
    if (sites.length > 6) shown.push(`… ${sites.length - 6} more`)
    lines.push(`  ${r.mark.padEnd(14)}  ${r.name.padEnd(nameWidth)} ${String(r.count).padStart(6)}×  ${shown.join(', ')}${r.note && r.mark !== 'agreed' ? `  — ${r.note}` : ''}`)
  }
  const count = (m: Mark) => sorted.filter((r) => r.mark === m).length
  const not = count('NOT replicated')
  lines.push(
    `repjs audit: ${count('agreed')} agreed, ${count('run once')} run once, ${not} NOT replicated.` +
      (not
        ? ' Replicas under `repjs run` would see different values for the NOT replicated calls: where a result matters, pass it in (argv) or compute it from agreed values (Date.now, Math.random), or use the library API (rep.distributed) instead.'
        : ' Everything seen is handled by `repjs run`.'),
  )
  return lines.join('\n') + '\n'
}
