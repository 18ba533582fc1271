/**
 * The worker side of a plain script's calls: the one `ScriptCall` the installers patch with. It
 * answers from the replay window a call whose slot is decided there (core/script/replay-window.ts),
 * else reads the call site, blocks on the bridge for the agreed value, and hands the script the value, or
 * throws the agreed error with the script's own stack (as the runtime would show it), or, when RepJS
 * stopped the replica (or the bridge answered another call), never returns to the script.
 */
import type { ScriptBridge } from './bridge.js'
import type { ScriptCall } from './calls.js'
import type { SiteReader } from './site.js'

export interface ScriptCallOptions {
  bridge: ScriptBridge
  site: SiteReader
  /** RepJS stopped the replica (or the bridge is corrupt): report it and block until the worker is ended. */
  stopped(error: Error): never
  /** Each answer's live flag (`repjs run --quiet-replay`). */
  live?(live: boolean): void
}

/** Error classes an agreed error is rebuilt as, by name (the codec carries name, message, code, cause). */
const CLASSES: Record<string, ErrorConstructor> = { TypeError, RangeError, SyntaxError, ReferenceError, EvalError, URIError }

/** The agreed error as the script sees it: its class by name, and a stack of the script's frames, not the host's. */
export function scriptError(error: unknown, frames: string[]): unknown {
  if (!(error instanceof Error)) return error
  const Class = CLASSES[error.name]
  if (Class && Object.getPrototypeOf(error) === Error.prototype) Object.setPrototypeOf(error, Class.prototype)
  Object.defineProperty(error, 'stack', { value: [`${error.name}: ${error.message}`, ...frames.slice(0, 10)].join('\n'), writable: true, configurable: true })
  return error
}

export function createScriptCall(o: ScriptCallOptions): ScriptCall {
  const decided = o.bridge.replay
  // performance.now() is agreed time since the script's first performance.now() call.
  let perfBase: number | undefined
  const value = (op: string, v: unknown) => (op === 'perf' ? (v as number) - (perfBase ??= v as number) : v)
  return function scriptCall(op, name, args, patched) {
    let site: string | undefined
    const siteNow = () => (site ??= o.site.now(patched))
    // A slot already decided, in the replay window: answered here, no round trip (read the site
    // only if sites are compared; a call that does not match goes to the host, which reports it).
    const hit = args.length === 0 ? decided.take(op, name, siteNow) : undefined
    if (hit) {
      o.live?.(hit.live)
      return value(op, hit.value)
    }
    let reply
    try {
      reply = o.bridge.call(op, name, args, siteNow())
    } catch (err) {
      return o.stopped(err as Error) // an answer to another call (REPJS_CORRUPT): never hand it to the script
    }
    o.live?.(reply.live)
    if (reply.ok) return value(op, reply.value)
    // RepJS stopped the replica: the script must not go on with values the others never saw.
    if (reply.stopped) return o.stopped(reply.error as Error)
    throw scriptError(reply.error, o.site.scriptFrames(new Error().stack))
  }
}
