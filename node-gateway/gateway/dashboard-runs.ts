/**
 * The runs the dashboard and the presence gauge list: the run index (store/run-index.ts listRuns,
 * runs not gone), plus any run this gateway has a connection for that the index lacks (a run
 * created before there was an index). A light listing (count-only reads, presence keys, no log, no
 * sizes) kept for REFRESH_MS and read again only when asked after that (polls and scrapes in between share it);
 * the replicas themselves are read at every poll (dashboard.ts).
 */
import type { EtcdStore } from '../store/etcd-store.js'
import { listRuns } from '../store/run-index.js'
import type { DashboardRun } from './dashboard.js'

export const REFRESH_MS = 5000

const unindexed = (run: string): DashboardRun => ({ run, program: null, created: null, lastActivity: null, slots: null, bytes: null })

export function dashboardRuns(store: EtcdStore, live: Map<string, unknown>, refreshMs = REFRESH_MS): () => Promise<DashboardRun[]> {
  let cached: { at: number; runs: Promise<DashboardRun[]> } | undefined
  const indexed = () => {
    if (!cached || Date.now() - cached.at > refreshMs) {
      const runs = listRuns(store, { detail: 'light' }).then((all) => all.filter((r) => !r.gone).map((r): DashboardRun => ({
        run: r.run, program: r.program, created: r.created, lastActivity: r.lastActivity, slots: r.streams.main ?? 0, bytes: r.bytes,
      })))
      cached = { at: Date.now(), runs }
      // A failed read is not kept: the next poll tries again.
      runs.catch(() => cached?.runs === runs && (cached = undefined))
    }
    return cached.runs
  }
  return async () => {
    const runs = await indexed()
    const known = new Set(runs.map((r) => r.run))
    const extra = new Set<string>()
    for (const key of live.keys()) {
      const run = key.slice(0, key.indexOf('\u0000'))
      if (!known.has(run)) extra.add(run)
    }
    return [...runs, ...[...extra].sort().map(unindexed)]
  }
}
