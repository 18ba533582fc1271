/**
 * What the CLI says when etcd (or a gateway) does not answer. The store's own errors say
 * "Retrying" because connect() does retry them; a one-shot command (inspect, runs, cluster list)
 * does not, so it says what happened and what to do instead (`oneShot`). A command that waits for
 * the store (run, replay) says so once it has waited a few seconds (`waitingNotice`).
 */
import { ErrorCodes, RepJSError } from '../../core/errors.js'
import type { Status } from '../../core/status.js'

/** How long a waiting command stays silent before it says it is still connecting. */
export const WAIT_NOTICE_MS = 5000

const START_HINT = 'a local etcd is one command away: npx repjs start (or repjs etcd); elsewhere pass --etcd URL or set REPJS_ETCD'

/** The first RepJSError in err's cause chain that says how a retrying caller would wait. */
function retryState(err: unknown): 'reconnecting' | 'waiting-for-quorum' | undefined {
  for (let e = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (RepJSError.is(e) && e.retryAs) return e.retryAs
  }
  return undefined
}

/** The first line of err's message, without the store's "Retrying ..." advice. */
const reason = (err: Error) => err.message.split('\n')[0]!.replace(/\.? ?Retrying\b.*$/i, '')

/**
 * Run a command that tries once: an unreachable etcd or one without quorum becomes an error that
 * says so and what to do (REPJS_UNAVAILABLE, exit status 1 from main), not "Retrying".
 */
export async function oneShot<T>(endpoints: string[], op: () => Promise<T>, again = 'run the command again'): Promise<T> {
  try {
    return await op()
  } catch (err) {
    if (!RepJSError.is(err) || err.code !== ErrorCodes.UNAVAILABLE) throw err
    const at = `etcd at ${endpoints.join(',')}`
    const message = retryState(err) === 'waiting-for-quorum'
      ? `${at} has no quorum or timed out (${reason(err)}); nothing more was done. Once a majority of its members runs (repjs cluster list --etcd URL shows them), ${again}`
      : `${at} is not reachable (${reason(err)}); nothing more was done. Check the URL and that etcd runs: ${START_HINT}; then ${again}`
    throw new RepJSError(ErrorCodes.UNAVAILABLE, message, { cause: err, details: err.details })
  }
}

/**
 * For a command that waits while the store is unreachable or without quorum (run, replay): an
 * onStatus listener that writes one line to stderr once the wait has lasted WAIT_NOTICE_MS, however
 * late the first status comes. `done()` cancels it once connected.
 */
export function waitingNotice(write: (line: string) => void, viaGateway: boolean): { onStatus(s: Status): void; done(): void } {
  let waiting: string | undefined
  let said = false
  let due = false
  const say = () => {
    if (said || !waiting) return
    said = true
    const hint = viaGateway ? 'check that the gateway runs and its URL' : START_HINT
    write(`repjs: still connecting to the run (${waiting}); waiting until it answers (${hint}); Ctrl-C to stop`)
  }
  const timer = setTimeout(() => {
    due = true
    say()
  }, WAIT_NOTICE_MS)
  return {
    onStatus(s) {
      if (s.state === 'reconnecting' || s.state === 'waiting-for-quorum') waiting = `${s.state}${s.reason ? `: ${reason(new Error(s.reason))}` : ''}`
      if (due) say()
    },
    done: () => clearTimeout(timer),
  }
}
