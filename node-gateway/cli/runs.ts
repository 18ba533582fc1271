/**
 * `repjs runs [--etcd URL] [--json]`: every run of the index, live or gone.
 * `repjs runs rm R [--etcd URL] [--force]`: delete a run's keys, leaving its tombstone.
 */
import { ErrorCodes, RepJSError } from '../../core/errors.js'
import { createEtcdStore } from '../store/etcd-store.js'
import { deleteRun } from '../store/run-delete.js'
import { listRuns, type RunSummary } from '../store/run-index.js'
import { oneShot } from './unreachable.js'
import { parse } from './args.js'

export const RUNS_USAGE = 'usage: repjs runs [--etcd URL[,URL]] [--json]\n       repjs runs rm R [--etcd URL[,URL]] [--force]'

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/** A duration like '90s', '30m', '1h', '2d', '1500ms' in ms. */
export function parseDuration(text: string, option: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(text.trim())
  if (!m) throw new RepJSError(ErrorCodes.BAD_ARGUMENT, `${option} takes a duration with a unit (1500ms, 90s, 30m, 1h, 2d), got '${text}'`)
  return Math.round(Number(m[1]) * UNITS[m[2]!]!)
}

function duration(ms: number): string {
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`
  }
  return `${ms}ms`
}

function size(bytes: number | null): string {
  if (bytes === null) return '-'
  if (bytes < 1024) return `${bytes} B`
  if (bytes < 1024 ** 2) return `${(bytes / 1024).toFixed(1)} KiB`
  return `${(bytes / 1024 ** 2).toFixed(1)} MiB`
}

const when = (ms: number | null) => (ms === null ? '-' : new Date(ms).toISOString().replace('T', ' ').slice(0, 19))

/** The table `repjs runs` prints. */
export function runsTable(runs: RunSummary[]): string {
  const head = ['RUN', 'PROGRAM', 'PRESENT', 'SLOTS', 'SIZE', 'CREATED', 'LAST ACTIVITY', 'TTL', 'GONE']
  const rows = runs.map((r) => [
    r.run, r.program, String(r.present),
    Object.entries(r.streams).map(([s, n]) => `${s}=${n}`).join(' ') || '-',
    size(r.bytes), when(r.created), when(r.lastActivity), r.ttlMs === null ? '-' : duration(r.ttlMs), r.gone ? 'gone' : '-',
  ])
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)))
  return [head, ...rows].map((row) => row.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n') + '\n'
}

export async function runsCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parse(argv, {
    etcd: { type: 'string', default: process.env.REPJS_ETCD ?? 'http://127.0.0.1:2379' }, json: { type: 'boolean', default: false },
    force: { type: 'boolean', default: false },
  })
  const endpoints = String(values.etcd).split(',')
  const store = createEtcdStore({ endpoints })
  // A command does not retry by itself: oneShot says so rather than the store's "Retrying".
  try {
    await oneShot(endpoints, async () => {
      if (positionals[0] === 'rm') {
        const run = positionals[1]
        if (!run || positionals.length > 2) throw new RepJSError(ErrorCodes.BAD_ARGUMENT, `repjs runs rm takes one run id\n${RUNS_USAGE}`)
        const res = await deleteRun(store, run, {
          force: values.force === true,
          onProgress: (done, total) => process.stderr.write(`repjs: deleting run ${run}: ${done}/${total} keys\n`),
        })
        process.stdout.write(`deleted run ${run}: ${res.deleted} keys${res.existed ? '' : ' (it had already expired or been deleted)'}; its tombstone stays: joining it fails with REPJS_RUN_GONE, --new starts it again\n`)
        return
      }
      if (positionals.length > 0) throw new RepJSError(ErrorCodes.BAD_ARGUMENT, `unknown runs subcommand '${positionals[0]}'\n${RUNS_USAGE}`)
      const runs = await listRuns(store)
      if (values.json) for (const r of runs) process.stdout.write(JSON.stringify(r) + '\n')
      else process.stdout.write(runs.length ? runsTable(runs) : 'no runs\n')
    }, 'run the command again (repjs runs rm goes on where it stopped)')
  } finally {
    await store.close()
  }
}
