/**
 * The fault-injection harness: real etcd clusters whose every peer link goes through a fault proxy
 * (tcp-proxy.ts) the test controls, replica processes (replica.mjs) with their own proxies, gateway
 * processes, and the history check after a run. 127.0.0.1 only; every process is stopped by PID.
 *
 *   const c = await startFaultCluster(3)
 *   const run = createRun('leader')
 *   const r = run.spawn({ etcd: c.endpoints })
 *   ...inject faults...
 *   const result = await run.check(c)   // history checker over every replica's log and etcd's log
 *   report({ scenario, ... })           // a row of the `npm run test:faults` table
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Etcd3 } from 'etcd3'
import { Xoshiro128 } from '../../core/prng.js'
import { decodeRecord } from '../../core/record.js'
import { startCluster, uniqueRun, type Cluster } from '../helpers/etcd.js'
import { codec } from '../helpers/raw-gateway.js'
import { track, type Proc } from '../helpers/run-script.js'
import { startProxy, type TcpProxy } from '../helpers/tcp-proxy.js'
import { checkHistories, readJsonLines, type CheckResult, type Effect, type History, type HistoryEvent } from './history.js'
import { recordHash } from './record-hash.mjs'

/** Long form: `npm run test:faults` (REPJS_FAULTS=1). */
export const LONG = Boolean(process.env.REPJS_FAULTS)
/** Pick by form: short in `npm test`, long in `npm run test:faults`. */
export const sized = <T>(short: T, long: T): T => (LONG ? long : short)

const replicaScript = fileURLToPath(new URL('./replica.mjs', import.meta.url))

// ---------------------------------------------------------------------------------------------
// Seeded randomness: the seed is printed; REPJS_FAULTS_SEED=<seed> replays the same schedule.

export interface Rng {
  seed: number
  float(): number
  int(n: number): number
}

export function seeded(scenario: string): Rng {
  const seed = process.env.REPJS_FAULTS_SEED ? Number(process.env.REPJS_FAULTS_SEED) >>> 0 : (Date.now() ^ (process.pid << 12)) >>> 0
  console.log(`[faults] ${scenario}: seed ${seed} (replay with REPJS_FAULTS_SEED=${seed})`)
  const x = new Xoshiro128([seed, seed ^ 0x9e3779b9, 0x85ebca6b, 0x2545f491])
  return { seed, float: () => x.nextFloat(), int: (n) => Math.floor(x.nextFloat() * n) }
}

// ---------------------------------------------------------------------------------------------
// etcd with a fault proxy in front of every member's peer and client port

export interface FaultCluster {
  cluster: Cluster
  /** Client URLs through each member's client proxy. */
  endpoints: string[]
  /** Peer proxies (what each member advertises) and client proxies, by member index. */
  peerProxies: TcpProxy[]
  clientProxies: TcpProxy[]
  /** Index of the current leader (asks the members that answer). */
  leader(): Promise<number>
  /** Cut every peer link between `side` and the other members (each side still talks within itself). */
  partition(side: number[]): void
  heal(): void
  /** Faults injected on the cluster's links so far (plus the kills counted by the scenario). */
  faults(): number
  stop(): Promise<void>
}

async function memberList(client: string): Promise<Array<{ ID: string; name: string }>> {
  const res = await fetch(`${client}/v3/cluster/member/list`, { method: 'POST', body: '{}' })
  return ((await res.json()) as { members: Array<{ ID: string; name: string }> }).members
}

/** Resolves once the member answers /health (after a restart). */
export async function healthy(client: string, ms = 20_000): Promise<void> {
  const until = Date.now() + ms
  for (;;) {
    try {
      const res = await fetch(`${client}/health`, { signal: AbortSignal.timeout(1000) })
      if (res.ok && ((await res.json()) as { health?: string }).health === 'true') return
    } catch {
      /* not up yet */
    }
    if (Date.now() > until) throw new Error(`etcd at ${client} not healthy after ${ms} ms`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

export async function startFaultCluster(size: number, opts: { extraArgs?: string[] } = {}): Promise<FaultCluster> {
  const peerProxies: TcpProxy[] = []
  const cluster = await startCluster(size, {
    extraArgs: opts.extraArgs,
    async advertisePeer({ peer }) {
      const p = await startProxy({ host: '127.0.0.1', port: Number(new URL(peer).port) })
      peerProxies.push(p)
      return p.url
    },
  })
  const clientProxies = await Promise.all(cluster.members.map((m) => startProxy({ host: '127.0.0.1', port: Number(new URL(m.client).port) })))
  const members = await memberList(cluster.endpoint)
  const idOf = cluster.members.map((m) => BigInt(members.find((x) => x.name === m.name)!.ID))
  // etcd names the sending member in every peer request: `X-Server-From: <member id in hex>`.
  const tag = (i: number) => `X-Server-From: ${idOf[i]!.toString(16)}`
  return {
    cluster,
    endpoints: clientProxies.map((p) => p.url),
    peerProxies,
    clientProxies,
    async leader() {
      const until = Date.now() + 20_000
      for (;;) {
        for (const m of cluster.members) {
          if (!m.proc) continue
          try {
            const res = await fetch(`${m.client}/v3/maintenance/status`, { method: 'POST', body: '{}', signal: AbortSignal.timeout(1000) })
            const leader = BigInt(((await res.json()) as { leader?: string }).leader ?? '0')
            const i = idOf.indexOf(leader)
            if (i >= 0 && cluster.members[i]!.proc) return i
          } catch {
            /* this member is down or has no leader yet: ask the next */
          }
        }
        if (Date.now() > until) throw new Error('etcd elected no leader in 20 s')
        await new Promise((r) => setTimeout(r, 100))
      }
    },
    partition(side) {
      const other = cluster.members.map((_, i) => i).filter((i) => !side.includes(i))
      peerProxies.forEach((p, i) => p.isolate((side.includes(i) ? other : side).map(tag)))
    },
    heal() {
      for (const p of peerProxies) p.restore()
    },
    faults: () => [...peerProxies, ...clientProxies].reduce((n, p) => n + p.faults, 0),
    async stop() {
      await Promise.all([...peerProxies, ...clientProxies].map((p) => p.close()))
      await cluster.stop()
    },
  }
}

// ---------------------------------------------------------------------------------------------
// Replica processes of one run

export interface ReplicaSpec {
  /** etcd client URLs, or gateway URLs (with token). */
  etcd?: string[]
  gateway?: string[]
  token?: string
  ops?: number
  inputEvery?: number
  onceEvery?: number
  onceHoldMs?: number
  ttlMs?: number
  /** 'offset:<ms>' or 'jump:<op>:<ms>' (this replica's clock only). */
  clock?: string
  pauseMs?: number
  payload?: number
  /** Put a fault proxy between this replica and each of its URLs. */
  proxied?: boolean
  /**
   * After `ops` ops, go on until FaultRun.release(): a fault the test schedules by this replica's
   * progress then always lands while it still runs, however fast the machine is.
   */
  untilReleased?: boolean
}

export interface ReplicaProc extends Proc {
  id: string
  /** The replica's own link proxies (spec.proxied). */
  links: TcpProxy[]
  /** Resolves when the replica printed `op <n>` (or a line matching `text`). */
  reached(n: number): Promise<void>
  /** Resolves when stdout (from character `from` on) has the line `text` or matches it. */
  says(text: string | RegExp, ms?: number, from?: number): Promise<void>
  /** Ops completed so far. */
  ops(): number
}

export interface FaultRun {
  run: string
  dir: string
  replicas: ReplicaProc[]
  spawn(spec: ReplicaSpec, id?: string): Promise<ReplicaProc>
  /** Let the replicas spawned with `untilReleased` finish (each after its current op). */
  release(): void
  histories(): History[]
  effects(): Effect[]
  /** Check every history (and etcd's log) and return the result; prints the violations. */
  check(etcd: string[]): Promise<CheckResult>
  /** Records of etcd's log for this run: stream -> slot -> hash, plus who wrote them. */
  etcdLog(etcd: string[]): Promise<{ slots: Map<string, Map<number, string>>; by: Set<string> }>
  stop(): Promise<void>
}

const children = new Set<ChildProcess>()
process.once('exit', () => {
  for (const p of children) p.kill('SIGKILL')
})

export function createRun(prefix: string): FaultRun {
  const run = uniqueRun(`faults-${prefix}`)
  const dir = mkdtempSync(join(tmpdir(), `repjs-faults-${prefix}-`))
  const effectsPath = join(dir, 'effects.jsonl')
  const releasePath = join(dir, 'released')
  const ids: string[] = []
  const replicas: ReplicaProc[] = []
  let n = 0
  const r: FaultRun = {
    run,
    dir,
    replicas,
    async spawn(spec, id = `r${n++}`) {
      const links: TcpProxy[] = []
      const urls = async (list: string[] | undefined, scheme: string) => {
        if (!list || !spec.proxied) return list
        return Promise.all(
          list.map(async (u) => {
            const p = await startProxy({ host: '127.0.0.1', port: Number(new URL(u).port) })
            links.push(p)
            return `${scheme}://127.0.0.1:${p.port}`
          }),
        )
      }
      const etcd = await urls(spec.etcd, 'http')
      const gateway = await urls(spec.gateway, 'ws')
      ids.push(id)
      appendFileSync(join(dir, `${id}.jsonl`), '')
      const env: Record<string, string> = {
        ...(process.env as Record<string, string>),
        REPJS_F_RUN: run, REPJS_F_ID: id, REPJS_F_LOG: join(dir, `${id}.jsonl`), REPJS_F_EFFECTS: effectsPath,
        REPJS_F_OPS: String(spec.ops ?? 30), REPJS_F_INPUT_EVERY: String(spec.inputEvery ?? 3),
        REPJS_F_ONCE_EVERY: String(spec.onceEvery ?? 0), REPJS_F_ONCE_HOLD_MS: String(spec.onceHoldMs ?? 50),
        REPJS_F_TTL_MS: String(spec.ttlMs ?? 2000), REPJS_F_CLOCK: spec.clock ?? '', REPJS_F_PAUSE_MS: String(spec.pauseMs ?? 0),
        REPJS_F_PAYLOAD: String(spec.payload ?? 0),
        ...(spec.untilReleased ? { REPJS_F_UNTIL: releasePath } : {}),
        ...(etcd ? { REPJS_F_ETCD: etcd.join(',') } : {}),
        ...(gateway ? { REPJS_F_GATEWAY: gateway.join(','), REPJS_F_TOKEN: spec.token ?? '' } : {}),
      }
      const child = spawn(process.execPath, [replicaScript], { env, stdio: ['ignore', 'pipe', 'pipe'] })
      children.add(child)
      child.once('exit', () => children.delete(child))
      const p = track(child)
      const says = (text: string | RegExp, ms = 60_000, from = 0) =>
        new Promise<void>((resolve, reject) => {
          const hit = () => (typeof text === 'string' ? p.stdout.slice(from).split('\n').includes(text) : text.test(p.stdout.slice(from)))
          if (hit()) return resolve()
          const t = setTimeout(() => (off(), reject(new Error(`replica ${id} did not print ${text} in ${ms} ms; stdout tail:\n${p.stdout.slice(-500)}\nstderr:\n${p.stderr}`))), ms)
          const check = () => hit() && (off(), resolve())
          const off = () => {
            clearTimeout(t)
            child.stdout!.off('data', check)
          }
          child.stdout!.on('data', check)
          void p.exited.then(() => {
            if (hit()) return off(), resolve()
            off()
            reject(new Error(`replica ${id} exited (${child.exitCode ?? child.signalCode}) before printing ${text}; stderr:\n${p.stderr}`))
          })
        })
      const rp: ReplicaProc = {
        ...p,
        get stdout() {
          return p.stdout
        },
        get stderr() {
          return p.stderr
        },
        id,
        links,
        reached: (k) => says(`op ${k}`),
        says,
        ops: () => p.stdout.split('\n').filter((l) => l.startsWith('op ')).length,
      }
      void p.exited.then(() => Promise.all(links.map((l) => l.close())))
      replicas.push(rp)
      return rp
    },
    release: () => writeFileSync(releasePath, ''),
    histories: () => ids.map((id) => ({ id, events: readJsonLines<HistoryEvent>(join(dir, `${id}.jsonl`)) })),
    effects: () => readJsonLines<Effect>(effectsPath),
    async etcdLog(etcd) {
      const client = new Etcd3({ hosts: etcd })
      try {
        // Keys first, then values a few at a time: one range over a big log exceeds gRPC's 4 MiB message.
        const keys = await client.getAll().prefix(`/repjs/v1/${run}/s/`).keys()
        const values: Buffer[] = []
        for (let i = 0; i < keys.length; i += 32) {
          values.push(...(await Promise.all(keys.slice(i, i + 32).map(async (k) => (await client.get(k).buffer())!))))
        }
        const slots = new Map<string, Map<number, string>>()
        const by = new Set<string>()
        for (const [i, key] of keys.entries()) {
          const [stream, slot] = key.split('/').slice(5)
          const rec = decodeRecord(codec, new Uint8Array(values[i]!), { run, stream: stream!, slot: Number(slot) })
          by.add(rec.by)
          const m = slots.get(stream!) ?? new Map<number, string>()
          slots.set(stream!, m)
          m.set(Number(slot), recordHash(rec))
        }
        return { slots, by }
      } finally {
        client.close()
      }
    },
    async check(etcd) {
      const { slots } = await r.etcdLog(etcd)
      const result = checkHistories({ histories: r.histories(), effects: r.effects(), reference: slots })
      for (const v of result.violations) console.log(`[faults] VIOLATION ${v}`)
      return result
    },
    async stop() {
      await Promise.all(replicas.map((p) => p.kill()))
      if (!process.env.REPJS_FAULTS_KEEP) rmSync(dir, { recursive: true, force: true })
      else console.log(`[faults] logs kept in ${dir}`)
    },
  }
  return r
}

/** Wait until every replica exits; their exit codes. A replica that failed shows its stderr. */
export async function allExited(ps: ReplicaProc[]): Promise<Array<number | null>> {
  const codes = await Promise.all(ps.map((p) => p.exited))
  ps.forEach((p, i) => codes[i] !== 0 && console.log(`[faults] replica ${p.id} exited ${codes[i]}; stderr:\n${p.stderr.slice(-2000)}`))
  return codes
}

// ---------------------------------------------------------------------------------------------
// The table of `npm run test:faults`

export interface Row {
  scenario: string
  /** Agreed operations (slots decided in etcd for the run). */
  operations: number
  faults: number
  histories: number
  lostLines: number
  divergences: number
  doubleExecutions: number
}

/** Print what a scenario did and checked, and add its row to the table (REPJS_FAULTS_REPORT). */
export function report(row: Row, checked: CheckResult, did: string): void {
  console.log(
    `[faults] ${row.scenario}: ${did}\n[faults]   checked ${checked.histories} histories, ${checked.records} records, ` +
      `${checked.ackedLines} acknowledged lines: lost ${checked.lostLines}, divergences ${checked.divergences}, ` +
      `double executions ${checked.doubleExecutions}, time regressions ${checked.timeRegressions}, missing outcomes ${checked.missingOutcomes}`,
  )
  if (process.env.REPJS_FAULTS_REPORT) appendFileSync(process.env.REPJS_FAULTS_REPORT, JSON.stringify(row) + '\n')
}

export function rowOf(scenario: string, checked: CheckResult, operations: number, faults: number): Row {
  return {
    scenario, operations, faults, histories: checked.histories,
    lostLines: checked.lostLines, divergences: checked.divergences + checked.timeRegressions, doubleExecutions: checked.doubleExecutions,
  }
}

export function countSlots(slots: Map<string, Map<number, string>>): number {
  return [...slots.values()].reduce((n, m) => n + m.size, 0)
}
