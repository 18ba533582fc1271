/**
 * The plain-script contract both runtimes share (`repjs run`'s worker thread, `runInWorker`'s Web
 * Worker): which calls are agreed, the op that agrees each, the name it is logged under and how its
 * arguments enter the call's identity; the exit codes; and `createPerform`, the host side that turns
 * one bridge request into one agreed value. A tab and a `repjs run` process running the same script
 * make the same calls under the same names because both read this table: a difference between two
 * copies would be a divergence.
 */
import type { RandomMode } from '../random.js'
import type { Replica } from '../replica.js'

/** Exit code of a replica stopped by RepJS itself (a divergence, a fatal store error). */
export const EXIT_STOPPED = 70
/** Exit code after terminate() (as a process ended by SIGTERM). */
export const EXIT_TERMINATED = 143

/** The bridge ops, by index (the bridge carries the index). */
export const OPS = ['now', 'perf', 'random', 'uuid', 'bytes', 'input', 'once', 'check'] as const
export type Op = (typeof OPS)[number]

/**
 * How a call's arguments enter its identity (the slot's argument hash): `none` (no arguments),
 * `args` (all of them, as the script passed them), `size` (the byte count asked for).
 */
export type Identity = 'none' | 'args' | 'size'

export interface CallSpec {
  op: Op
  identity: Identity
  /** Patched under `repjs run` only (node:crypto); the rest in both runtimes. */
  nodeOnly?: true
}

/** Every patched call, by the name its slot is logged under. */
export const CALLS = {
  'Date.now': { op: 'now', identity: 'none' },
  'new Date': { op: 'now', identity: 'none' },
  Date: { op: 'now', identity: 'none' },
  /** format() / formatToParts() of an Intl.DateTimeFormat called without a date (the current time). */
  'Intl.DateTimeFormat': { op: 'now', identity: 'none' },
  'performance.now': { op: 'perf', identity: 'none' },
  'Math.random': { op: 'random', identity: 'none' },
  'crypto.randomUUID': { op: 'uuid', identity: 'none' },
  'crypto.getRandomValues': { op: 'bytes', identity: 'size' },
  prompt: { op: 'input', identity: 'none' },
  'crypto.randomInt': { op: 'random', identity: 'args', nodeOnly: true },
  'crypto.randomBytes': { op: 'bytes', identity: 'size', nodeOnly: true },
  'crypto.randomFillSync': { op: 'bytes', identity: 'size', nodeOnly: true },
  'crypto.randomFill': { op: 'bytes', identity: 'size', nodeOnly: true },
} as const satisfies Record<string, CallSpec>
export type CallName = keyof typeof CALLS

/** A run-once function (`fs.renameSync`, a --once name): its arguments are its identity. */
export const ONCE: CallSpec = { op: 'once', identity: 'args', nodeOnly: true }
/** `repjs run --check-every`'s state checks, logged under CHECK_NAME (node-gateway/run/state-check.ts). */
export const CHECK: CallSpec = { op: 'check', identity: 'args', nodeOnly: true }

/**
 * The worker's one bridge call: op, logged name, arguments, and the patched function the script
 * called (so the call site is read from the frame right below it; optional).
 */
export type ScriptCall = (op: Op, name: string, args: unknown[], patched?: Function) => unknown

/** Make the call `name` of the table through `call`. */
export function callAs(call: ScriptCall, name: CallName, args: unknown[] = [], patched?: Function): unknown {
  return call(CALLS[name].op, name, args, patched)
}

/** The arguments of a bridge request that enter its identity, by the table (unknown names: all). */
export function identityArgs(name: string, args: unknown[]): unknown[] {
  const spec = (CALLS as Record<string, CallSpec>)[name]
  return !spec || spec.identity === 'args' ? args : []
}

export interface PerformOptions {
  rep: Replica
  /** Mode of Math.random (default: the replica's). */
  random?: RandomMode
  /** Median time with this quorum (default: monotonic). */
  medianQuorum?: number
  /** The next agreed input line for read number `ticket` (default rep.input()). */
  input?: (ticket: number) => Promise<string | null>
  /** Ops only one runtime has (`repjs run`: once, check). */
  more?: Partial<Record<Op, (name: string, args: unknown[]) => Promise<unknown>>>
}

export type Perform = (op: Op, name: string, args: unknown[]) => Promise<unknown>

/** The host side of every op: one agreed value per bridge request, logged under its name. */
export function createPerform(o: PerformOptions): Perform {
  const { rep } = o
  const now = (name: string) => (o.medianQuorum ? rep.now({ mode: 'median', quorum: o.medianQuorum, name }) : rep.now({ name }))
  return (op, name, args) => {
    switch (op) {
      case 'now':
        return now(name)
      case 'perf':
        // The agreed time: the worker makes performance.now() of it (core/script/script-call.ts).
        return now(name)
      case 'random':
        return rep.random({ ...(o.random ? { mode: o.random } : {}), name, args: identityArgs(name, args) })
      case 'uuid':
        return rep.randomUUID({ name })
      case 'bytes':
        return rep.getRandomValues(new Uint8Array(args[0] as number), { name })
      case 'input':
        return o.input ? o.input(args[0] as number) : rep.input()
      default: {
        const more = o.more?.[op]
        return more ? more(name, args) : Promise.reject(new Error(`unknown bridge op ${String(op)}`))
      }
    }
  }
}
