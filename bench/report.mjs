/**
 * What every benchmark result carries and where it goes: the environment it was measured in
 * (date, machine, library commit, load), the markdown header that states it, the files
 * `<dir>/<name>.{json,md,svg}`, and the splice of a result's tables into BENCHMARKS.md between
 * `<!-- bench:<name> -->` and `<!-- /bench:<name> -->` (full runs only, so the document always
 * shows the last full run).
 */
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
export const loadavg = () => os.loadavg().map((x) => Number(x.toFixed(2)))

export function machine() {
  const cpus = os.cpus()
  return {
    cpu: cpus[0]?.model?.trim() ?? 'unknown',
    cores: cpus.length,
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
  }
}

/** The library version measured: commit and uncommitted changes outside bench/ and the documents. */
export function library() {
  const git = (...a) => execFileSync('git', a, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).replace(/\n+$/, '')
  try {
    const dirty = git('status', '--porcelain', '--untracked-files=no').split('\n').filter((l) => l && !l.slice(3).startsWith('bench/') && !l.slice(3).endsWith('.md')).map((l) => l.slice(3))
    return { commit: git('rev-parse', '--short', 'HEAD'), uncommitted: dirty }
  } catch {
    return { commit: 'unknown (not a git checkout)', uncommitted: [] }
  }
}

/** The environment of one experiment, taken when it starts; `finish(env)` adds its end. */
export const environment = (mode) => ({ date: new Date().toISOString(), mode, machine: machine(), library: library(), loadavgAtStart: loadavg() })
export function finish(env, startedAt) {
  env.loadavgAtEnd = loadavg()
  env.seconds = Number(((performance.now() - startedAt) / 1000).toFixed(1))
  return env
}

/** The lines under a result's title that say where and how it was measured. */
export function headerLines(env, etcd) {
  const m = env.machine
  const lib = env.library
  const etcdLine = [etcd.version, etcd.members, etcd.fsync === undefined ? undefined : `fsync ${etcd.fsync ? 'ON' : 'OFF (--unsafe-no-fsync)'}`, etcd.note].filter(Boolean).join(', ')
  return [
    `- date: ${env.date} (${env.mode} run, ${env.seconds} s)`,
    `- machine: ${m.cpu}, ${m.cores} cores, ${m.memGiB} GiB, ${m.os}, Node ${m.node}; load average (1/5/15 min) at start ${env.loadavgAtStart.join(' / ')}, at end ${env.loadavgAtEnd.join(' / ')}`,
    `- library: commit ${lib.commit}${lib.uncommitted.length ? ` + uncommitted changes in ${lib.uncommitted.join(', ')}` : ''}`,
    `- etcd: ${etcdLine}`,
  ]
}

export function writeResult(dir, name, { json, md, svg }) {
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, `${name}.json`), JSON.stringify(json, null, 2) + '\n')
  writeFileSync(join(dir, `${name}.md`), md)
  if (svg) writeFileSync(join(dir, `${name}.svg`), svg)
  return `${relative(process.cwd(), join(dir, name)) || name}.{json,md${svg ? ',svg' : ''}}`
}

/**
 * Replaces what stands between `<!-- bench:<name> -->` and `<!-- /bench:<name> -->` in `file` with
 * `md`. Returns false (and changes nothing) when the file or the markers are missing.
 */
export function splice(file, name, md) {
  if (!existsSync(file)) return false
  const text = readFileSync(file, 'utf8')
  const open = `<!-- bench:${name} -->`
  const close = `<!-- /bench:${name} -->`
  const a = text.indexOf(open)
  const b = text.indexOf(close)
  if (a < 0 || b < a) return false
  writeFileSync(file, `${text.slice(0, a + open.length)}\n${md.trim()}\n${text.slice(b)}`)
  return true
}

/** A markdown table from a header row and rows of cells. */
export function table(head, rows) {
  const line = (cells) => `| ${cells.map((c) => String(c ?? '-').replace(/\|/g, '\\|').replace(/\n/g, ' ')).join(' | ')} |`
  return [line(head), `|${head.map(() => '---|').join('')}`, ...rows.map(line)]
}
