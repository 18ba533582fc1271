/**
 * The RepJS benchmark, one entry point for every experiment. `npm run bench` (builds, makes sure
 * etcd is installed, then runs this), or after `npm run build`:
 *
 *   node bench/run.mjs [--quick | --smoke] [--only name,name] [--out DIR] [--no-fsync]
 *   node bench/run.mjs --render [--only ...] [--out DIR]   (tables, plots and BENCHMARKS.md again from the JSON, nothing measured)
 *
 * Experiments, in this order (the first five share one single-member etcd this script starts;
 * the last three start their own clusters):
 *   floor      the Txn through etcd3 (floor A), the lean client (B) and a raw HTTP/2 exchange (C,
 *              raw-h2-floor.mjs) vs distributed() direct, through a gateway, under `repjs run`, and
 *              runInWorker's bridge in Chromium (floor.mjs, gateway.mjs, bridge.mjs, browser-bridge.mjs)
 *   prototype  the Python prototype's configurations and its recorded figures (three.mjs)
 *   catch-up   replaying a decided log; a late replica chasing a leader (catchup.mjs)
 *   streams    named streams in parallel against one stream (streams.mjs)
 *   fan-out    many WebSocket clients on one gateway, several runs, the worst gated (fanout.mjs)
 *   calls      the paper's Figure 1: N calls + a fixed workload, 1-8 replicas (calls.mjs)
 *   replicas   the paper's Figure 2: 1-16 replicas in simulated zones (replicas.mjs, zones.mjs)
 *   as-users-run-it  fresh processes as a user starts a script, 1 and 3 replicas, beside the Python
 *              prototype measured in the same run when REPPY_DIR points at a checkout of it (users.mjs)
 *
 * Each writes DIR/<name>.json (with the date, machine, library commit, etcd version and fsync
 * setting), DIR/<name>.md (tables) and DIR/<name>.svg (plots); DIR/summary.{json,md} collect every
 * target with whether it holds. DIR is bench/results (full), bench/results/quick (--quick, under 3
 * minutes) or a temporary directory (--smoke: tiny counts, for `npm test`: correctness only). A full
 * run also rewrites the results' sections of BENCHMARKS.md. etcd and every child process are
 * stopped by PID at the end, also on error. Exit code 1 if an experiment failed (the others still
 * run and are written).
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs'
import os from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Etcd3 } from 'etcd3'
import { startCluster } from '../dist/node-gateway/etcd/local-etcd.js'
import * as catchUp from './catchup.mjs'
import { etcdVersion, observe } from './etcd.mjs'
import * as fanOut from './fanout.mjs'
import * as floor from './floor.mjs'
import { killAllChildren, log } from './lib.mjs'
import * as calls from './calls.mjs'
import { CONFIGS } from './configs.mjs'
import * as replicas from './replicas.mjs'
import { environment, finish, headerLines, splice, table, writeResult } from './report.mjs'
import * as streams from './streams.mjs'
import * as prototype from './three.mjs'
import * as users from './users.mjs'

const HERE = dirname(fileURLToPath(import.meta.url))
const ROOT = join(HERE, '..')

const EXPERIMENTS = [
  { name: 'floor', title: 'Floor: one agreed call against the bare etcd transaction', shared: true, config: ['floor', 'bridge', 'browser'], ...floor },
  { name: 'prototype', title: 'RepJS in the Python prototype\'s configurations', shared: true, config: ['prototype'], ...prototype },
  { name: 'catch-up', title: 'Catch-up: replaying a decided log, and a late replica chasing a leader', shared: true, config: ['catchup'], ...catchUp },
  { name: 'streams', title: 'Throughput with named streams in parallel', shared: true, config: ['streams'], ...streams },
  { name: 'fan-out', title: 'Gateway fan-out to many clients', shared: true, config: ['fanout'], ...fanOut },
  { name: 'calls', title: 'Calls sweep (the paper\'s Figure 1)', config: ['calls'], ...calls },
  { name: 'replicas', title: 'Replicas sweep in simulated zones (the paper\'s Figure 2)', config: ['replicas'], ...replicas },
  { name: 'as-users-run-it', title: 'As users run it: fresh processes, RepJS beside the Python prototype', config: ['users'], ...users },
]

function parseArgs(argv) {
  const usage = `usage: node bench/run.mjs [--quick | --smoke | --render] [--only ${EXPERIMENTS.map((e) => e.name).join(',')}] [--out DIR] [--no-fsync]`
  const o = { mode: 'full', fsync: true, only: undefined, out: undefined, render: false }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--quick' || a === '--smoke') o.mode = a.slice(2)
    else if (a === '--no-fsync') o.fsync = false
    else if (a === '--render') o.render = true
    else if (a === '--only' && argv[i + 1]) o.only = argv[++i].split(',')
    else if (a === '--out' && argv[i + 1]) o.out = resolve(argv[++i])
    else if (a === '--help' || a === '-h') {
      console.log(usage)
      process.exit(0)
    } else {
      console.error(`unknown option ${a}\n${usage}`)
      process.exit(2)
    }
  }
  const unknown = (o.only ?? []).filter((n) => !EXPERIMENTS.some((e) => e.name === n))
  if (unknown.length) {
    console.error(`unknown experiment ${unknown.join(', ')}\n${usage}`)
    process.exit(2)
  }
  o.out ??= o.mode === 'full' ? join(HERE, 'results') : o.mode === 'quick' ? join(HERE, 'results', 'quick') : mkdtempSync(join(os.tmpdir(), 'repjs-bench-smoke-'))
  return o
}

/** The shared single-member etcd, started on first use: { etcd (observed member), client, stop() }. */
function sharedEtcd(fsync) {
  let started
  return {
    get: () =>
      (started ??= (async () => {
        const cluster = await startCluster(1, { fsync })
        const etcd = observe(cluster.members[0])
        log(`etcd pid ${etcd.pid} at ${etcd.endpoint}, fsync ${fsync ? 'on' : 'off'}`)
        const client = new Etcd3({ hosts: etcd.endpoint })
        return { etcd, client, stop: async () => (client.close(), await cluster.stop()) }
      })()),
    stop: async () => (await started)?.stop(),
  }
}

function summaryMarkdown(run, results) {
  const rows = []
  for (const r of results) {
    if (r.error) rows.push([`**${r.name}: FAILED**`, r.error, '-', 'NO'])
    for (const t of r.targets ?? []) rows.push([t.what, t.result, t.target, t.gated ? (t.met ? 'yes' : '**NO**') : t.met == null ? '(reported)' : t.met ? 'yes (reported)' : 'no (reported)'])
  }
  return [
    `# RepJS benchmark summary (${run.mode} run)`,
    '',
    ...headerLines(run, { version: run.etcdVersion, fsync: run.fsync, members: 'single member on 127.0.0.1 for the shared experiments' }),
    '',
    ...table(['Target', 'Result', 'Target', 'Met'], rows),
    '',
    'Each row comes from its experiment\'s last run (a run with `--only` replaces only its own rows): ' +
      results.map((r) => `${r.error ? `${r.name} (FAILED)` : `[${r.name}](${r.name}.md)`} ${r.date}${r.commit ? ` at ${r.commit}` : ''}`).join(', ') + '.',
    '',
  ].join('\n')
}

/** summary.{json,md}, and the summary section of BENCHMARKS.md after a full run; returns the markdown. */
function writeSummary(args, run, results) {
  const md = summaryMarkdown(run, results)
  writeResult(args.out, 'summary', { json: { ...run, results }, md })
  if (isDefaultFull(args)) splice(join(ROOT, 'BENCHMARKS.md'), 'summary', md.split('\n').slice(2).join('\n'))
  return md
}

const isDefaultFull = (args) => args.mode === 'full' && args.out === join(HERE, 'results')

/** Write one experiment's JSON, markdown and plot from its result object (and its section of BENCHMARKS.md). */
function write(e, json, args) {
  const body = e.markdown(json)
  const md = [`# ${e.title}`, '', ...headerLines(json.env, json.etcd), '', body].join('\n')
  const targets = e.targets(json)
  const wrote = writeResult(args.out, e.name, { json: { ...json, targets }, md, svg: e.svg(json, json.env) })
  if (isDefaultFull(args)) {
    const doc = [...headerLines(json.env, json.etcd), '', body, '', `![${e.title}](bench/results/${e.name}.svg)`].join('\n')
    if (!splice(join(ROOT, 'BENCHMARKS.md'), e.name, doc)) log(`  (BENCHMARKS.md has no <!-- bench:${e.name} --> section to update)`)
  }
  return { wrote, targets }
}

/** --render: tables, plots and BENCHMARKS.md again from each experiment's JSON. */
function render(args) {
  for (const e of EXPERIMENTS.filter((x) => !args.only || args.only.includes(x.name))) {
    const file = join(args.out, `${e.name}.json`)
    if (!existsSync(file)) {
      log(`${e.name}: no ${file}, skipped`)
      continue
    }
    log(`${e.name}: wrote ${write(e, JSON.parse(readFileSync(file, 'utf8')), args).wrote}`)
  }
  const summary = join(args.out, 'summary.json')
  if (existsSync(summary)) {
    const run = JSON.parse(readFileSync(summary, 'utf8'))
    for (const r of run.results) {
      const file = join(args.out, `${r.name}.json`)
      if (!r.error && existsSync(file)) r.targets = JSON.parse(readFileSync(file, 'utf8')).targets
    }
    writeSummary(args, run, run.results)
  }
  return 0
}

async function main() {
  const args = parseArgs(process.argv.slice(2))
  if (args.render) return render(args)
  const cfg = CONFIGS[args.mode]
  const chosen = EXPERIMENTS.filter((e) => !args.only || args.only.includes(e.name))
  const run = { ...environment(args.mode), fsync: args.fsync, etcdVersion: etcdVersion(), out: args.out }
  const t0 = performance.now()
  if (run.loadavgAtStart[0] > os.cpus().length / 2) {
    log(`warning: the 1-minute load average is ${run.loadavgAtStart[0]} on ${os.cpus().length} cores before the benchmark starts; other work will perturb the results`)
  }
  log(`RepJS benchmark (${args.mode}): ${chosen.map((e) => e.name).join(', ')}; ${run.etcdVersion}; results in ${args.out}`)
  const shared = sharedEtcd(args.fsync)
  const results = []
  try {
    for (const [i, e] of chosen.entries()) {
      const started = performance.now()
      const env = environment(args.mode)
      log(`\n=== [${i + 1}/${chosen.length}] ${e.name}: ${e.title}`)
      try {
        // The paper's experiments start their own clusters: stop the shared etcd first, so it does not take CPU.
        const ctx = e.shared ? { ...(await shared.get()), cfg, fsync: args.fsync, timeoutMs: cfg.timeoutMs } : (await shared.stop(), { cfg, fsync: args.fsync, timeoutMs: cfg.timeoutMs })
        const result = await e.run(ctx)
        finish(env, started)
        const etcd = result.etcd ?? { version: run.etcdVersion, members: 'single member on 127.0.0.1, shared with the other experiments of this run', fsync: args.fsync }
        const json = { experiment: e.name, title: e.title, env, etcd, config: Object.fromEntries(e.config.map((k) => [k, cfg[k]])), ...result }
        const { wrote, targets } = write(e, json, args)
        results.push({ name: e.name, date: env.date, commit: env.library.commit, targets, seconds: env.seconds })
        log(`  ${e.name} done in ${env.seconds} s: wrote ${wrote}`)
      } catch (err) {
        log(`  ${e.name} FAILED after ${((performance.now() - started) / 1000).toFixed(1)} s: ${err?.stack ?? err}`)
        results.push({ name: e.name, date: env.date, commit: env.library.commit, error: String(err?.message ?? err).split('\n')[0] })
        killAllChildren()
      }
    }
  } finally {
    await shared.stop()
  }
  finish(run, t0)
  // With --only, the other experiments' rows stay as the directory's summary had them.
  const previous = join(args.out, 'summary.json')
  const kept = args.only && existsSync(previous) ? JSON.parse(readFileSync(previous, 'utf8')).results.filter((r) => !args.only.includes(r.name)) : []
  const all = EXPERIMENTS.map((e) => results.find((r) => r.name === e.name) ?? kept.find((r) => r.name === e.name)).filter(Boolean)
  const md = writeSummary(args, run, all)
  log(`\n${md}`)
  log(`Total ${run.seconds} s. Results in ${args.out}`)
  return results.some((r) => r.error) ? 1 : 0
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error('benchmark failed:', err)
    killAllChildren()
    process.exitCode = 1
    // 'exit' hooks (lib's, paper's and startCluster's) kill the children and etcd by PID.
    setTimeout(() => process.exit(1), 100)
  },
)
