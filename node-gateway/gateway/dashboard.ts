/**
 * GET /dashboard (a static page, dashboard-page.ts) and GET /dashboard/api (JSON it polls every
 * second): the runs, the replicas present in each (core/presence.ts) with status, slot, head, lag
 * and runtime, the decided slots per run (the page draws calls/s from their change between polls),
 * and the etcd members with the leader and database sizes. Also the presence gauge of /metrics.
 *
 * Access: without a gateway secret, open (the gateway then listens on 127.0.0.1 only). With one, a
 * token like every client's, as `?token=` or `Authorization: Bearer`: a token for run `*`
 * (`repjs token --run '*'`) shows every run; a token for run R shows only R. Otherwise 401.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { Gauge, type Registry } from 'prom-client'
import type { Presence } from '../../core/presence.js'
import type { EtcdStore } from '../store/etcd-store.js'
import { listPresence } from '../store/presence-list.js'
import { etcdMembers, type EtcdMember } from './etcd-members.js'
import { DASHBOARD_PAGE } from './dashboard-page.js'
import { TokenError, verifyToken } from './token.js'

/** A run as the dashboard lists it (from the run index when there is one). */
export interface DashboardRun {
  run: string
  program: string | null
  created: number | null
  lastActivity: number | null
  /** Decided slots of the main stream as the run index last counted them, when known. */
  slots: number | null
  /** Keys and values under the run's prefix, when known. */
  bytes: number | null
}

export interface ReplicaView extends Presence {
  /** Decided slots this replica has not used yet: head + 1 - slot (0 when caught up). */
  lag: number
}

export interface DashboardData {
  gateway: string
  at: number
  /** `decided`: slots decided on the main stream (the page draws calls/s from its change). */
  runs: (DashboardRun & { replicas: ReplicaView[]; decided: number })[]
  etcd: { members: EtcdMember[]; error?: string }
}

/** At most this many runs are read per poll or scrape (a presence range read each). */
const MAX_RUNS = 200
/** The reserved run name of a token that opens the dashboard for every run. */
export const ALL_RUNS = '*'

export interface DashboardOptions {
  store: EtcdStore
  secret: string | undefined
  gatewayId: string
  runs: () => Promise<DashboardRun[]>
}

function bearer(req: IncomingMessage, url: URL): string {
  const auth = String(req.headers.authorization ?? '')
  return auth.startsWith('Bearer ') ? auth.slice(7) : (url.searchParams.get('token') ?? '')
}

/** Which runs a dashboard token opens: every run, or one. Throws TokenError. */
export function dashboardScope(secret: string, token: string): string {
  let claimed = ALL_RUNS
  try {
    const run = JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString('utf8'))?.run
    if (typeof run === 'string') claimed = run
  } catch {
    // verifyToken says what is wrong with it.
  }
  if (!token) throw new TokenError('missing', `the dashboard needs a token: open /dashboard?token=<repjs token --run '*'> (every run) or a run's token (that run)`)
  return verifyToken(secret, token, claimed).run
}

export function createDashboard(opts: DashboardOptions) {
  const replicasOf = async (run: string): Promise<ReplicaView[]> =>
    (await listPresence(opts.store.client, run)).map((p) => ({ ...p, lag: Math.max(0, p.head + 1 - p.slot) }))

  async function data(scope: string): Promise<DashboardData> {
    const listed = (await opts.runs()).filter((r) => scope === ALL_RUNS || r.run === scope)
    if (scope !== ALL_RUNS && listed.length === 0) listed.push({ run: scope, program: null, created: null, lastActivity: null, slots: null, bytes: null })
    const runs = await Promise.all(listed.slice(0, MAX_RUNS).map(async (r) => {
      const replicas = await replicasOf(r.run)
      // The replicas' heads are at most a second old; the index's count up to REFRESH_MS.
      const decided = replicas.reduce((n, p) => Math.max(n, p.head + 1), r.slots ?? 0)
      return { ...r, replicas, decided }
    }))
    let etcd: DashboardData['etcd']
    try {
      etcd = { members: await etcdMembers(opts.store.client) }
    } catch (err) {
      etcd = { members: [], error: (err as Error).message }
    }
    return { gateway: opts.gatewayId, at: Date.now(), runs, etcd }
  }

  /** Answers /dashboard and /dashboard/api; false for any other path. */
  async function handle(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    const url = new URL(req.url ?? '/', 'http://gateway')
    if (req.method !== 'GET' || (url.pathname !== '/dashboard' && url.pathname !== '/dashboard/api')) return false
    let scope = ALL_RUNS
    if (opts.secret !== undefined) {
      try {
        scope = dashboardScope(opts.secret, bearer(req, url))
      } catch (err) {
        const reason = err instanceof TokenError ? err.reason : 'token'
        res.writeHead(401, { 'content-type': 'application/json', 'cache-control': 'no-store' })
        res.end(JSON.stringify({ error: (err as Error).message, code: (err as TokenError).code, reason }))
        return true
      }
    }
    if (url.pathname === '/dashboard') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'content-security-policy': "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'" })
      res.end(DASHBOARD_PAGE)
      return true
    }
    const body = JSON.stringify(await data(scope))
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' })
    res.end(body)
    return true
  }

  /** `repjs_gateway_replicas_present{run, runtime}`, read from the presence keys at each scrape. */
  function registerMetrics(registry: Registry): void {
    new Gauge({
      name: 'repjs_gateway_replicas_present',
      help: 'Replicas announced under a run (presence keys), by run and runtime',
      labelNames: ['run', 'runtime'],
      registers: [registry],
      async collect() {
        const runs = (await opts.runs().catch(() => [])).slice(0, MAX_RUNS)
        const counts = await Promise.all(runs.map(async (r) => [r.run, await replicasOf(r.run).catch(() => [])] as const))
        this.reset()
        for (const [run, replicas] of counts) {
          const byRuntime = new Map<string, number>()
          for (const p of replicas) byRuntime.set(p.runtime, (byRuntime.get(p.runtime) ?? 0) + 1)
          for (const [runtime, n] of byRuntime) this.set({ run, runtime }, n)
        }
      },
    })
  }

  return { handle, data, registerMetrics }
}
