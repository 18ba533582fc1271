/**
 * The host side of the bridge: answer one request with its agreed value (the call made with the
 * script's call site), and the loop that answers requests as the worker makes them. An error that
 * stops the replica (core/errors.ts stopsReplica: a divergence, a fatal store error) is never
 * handed to the script: the worker is told the replica stopped, and the runtime stops it.
 */
import { stopsReplica, type RepJSError } from '../errors.js'
import type { Replica } from '../replica.js'
import { REQUEST, STATE, type Answer, type ScriptBridge } from './bridge.js'
import type { Perform } from './calls.js'
import type { ReplayHost } from './replay-host.js'

export interface AnswerOptions {
  bridge: ScriptBridge
  rep: Replica
  perform: Perform
  /** Whether the replica is live (each value's answer says so; `repjs run --quiet-replay`). */
  live?: () => boolean
  /** RepJS stopped the replica with this error: the runtime stops its worker. */
  stop(err: RepJSError): void
  /** The error the replica stopped with, if it has: every later request is answered with it. */
  stoppedWith(): RepJSError | undefined
  /** The replay window's host side: the slots the worker answered itself are taken before the request's. */
  replay?: ReplayHost
}

/** Answer the pending request (state REQUEST). */
export async function answerRequest(o: AnswerOptions): Promise<void> {
  const { bridge } = o
  const req = bridge.request()
  const stopped = o.stoppedWith()
  if (stopped) {
    await o.replay?.finish(true)
    return bridge.respond({ stopped })
  }
  let answer: Answer
  try {
    // The slots the worker answered from the replay window come before this call's.
    if (o.replay) await o.replay.catchUp(true)
    answer = { value: await o.rep.withCallSite(req.site, () => o.perform(req.op, req.name, req.args)), live: o.live?.() }
  } catch (err) {
    if (stopsReplica(err)) {
      o.stop(err)
      answer = { stopped: o.stoppedWith() ?? err }
    } else answer = { error: err }
  }
  if (!('stopped' in answer)) o.replay?.grant()
  try {
    bridge.respond(answer)
  } catch (err) {
    // e.g. crypto.randomBytes() larger than the bridge: the script gets the error, not a hang
    bridge.respond({ error: err instanceof Error ? new RangeError(err.message) : new Error(String(err)) })
  }
}

/** Atomics.waitAsync (Node 16+, Chrome 87+; typed in ES2024 libs, which this project does not use). */
type WaitAsync = (a: Int32Array, i: number, v: number, timeout?: number) => { async: boolean; value: Promise<string> | string }
export const waitAsync = (Atomics as unknown as { waitAsync?: WaitAsync }).waitAsync?.bind(Atomics)

/**
 * While the worker answers calls from the replay window, the host takes its slots as it goes: again
 * after 1 ms (a timer, so messages and I/O are served between batches) after a look that found
 * some, else after this many ms.
 */
export const REPLAY_TAKE_MS = 20

/**
 * Answer requests as the worker makes them until `done()`: wait on the state word itself (no message
 * per call). While it holds a response the worker has not taken yet, wait for it to change. With a
 * replay window, take the slots the worker answered itself every REPLAY_TAKE_MS while it does, and
 * all of them at the end (unless `stopped()`).
 */
export async function serveRequests(bridge: ScriptBridge, answer: () => Promise<void>, done: () => boolean, replay?: { host: ReplayHost; stopped: () => boolean }): Promise<void> {
  let took = 0
  while (!done()) {
    const state = bridge.state
    if (state === REQUEST) {
      await answer()
      continue
    }
    const granting = replay?.host.granting
    const waited = granting ? waitAsync!(bridge.ctl, STATE, state, took > 0 ? 1 : REPLAY_TAKE_MS) : waitAsync!(bridge.ctl, STATE, state)
    const woke = waited.async ? await waited.value : waited.value
    took = woke === 'timed-out' && !done() ? await replay!.host.idle() : 0
  }
  await replay?.host.finish(replay.stopped())
}
