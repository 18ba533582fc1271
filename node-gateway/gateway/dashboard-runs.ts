/**
 * The runs the dashboard and the presence gauge list. Until the run index (store/run-index.ts,
 * listRuns) is part of this build: the runs this gateway has connections for, each with its decided
 * slots unknown (the page then counts from the replicas' heads).
 */
import type { DashboardRun } from './dashboard.js'

export function connectedRuns(live: Map<string, unknown>): () => Promise<DashboardRun[]> {
  return async () => {
    const runs = new Set<string>()
    for (const key of live.keys()) runs.add(key.slice(0, key.indexOf('\u0000')))
    return [...runs].sort().map((run) => ({ run, program: null, created: null, lastActivity: null, slots: null, bytes: null }))
  }
}
