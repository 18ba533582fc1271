/**
 * Agreed randomness. Modes:
 *  - 'call'  (default) each value is agreed and logged: an extra call on one replica is caught as divergence.
 *  - 'batch' a block of values is agreed at once and consumed in order: fast, replicas must consume identically.
 *  - 'seed'  one 128-bit seed per stream is agreed, then xoshiro128** runs locally: fastest; unsafe if
 *            replicas' call counts differ (nothing is logged per value, so nothing can catch it).
 */
import type { Engine, StreamState } from './engine.js'
import { badArgument } from './errors.js'
import { cryptoFloat, Xoshiro128 } from './prng.js'

export type RandomMode = 'call' | 'batch' | 'seed'
export const BATCH_SIZE = 256

interface Pool {
  next: Promise<unknown>
  values: number[]
  prng?: Xoshiro128
}

/** Each stream's pool of agreed values (batch) or generator (seed). */
const pools = new WeakMap<StreamState, Pool>()

function pool(stream: StreamState): Pool {
  let p = pools.get(stream)
  if (!p) pools.set(stream, (p = { next: Promise.resolve(), values: [] }))
  return p
}

/** Start the stream's batch and seed generators anew (after a snapshot). */
export function restartRandom(stream: StreamState): void {
  pools.delete(stream)
}

async function agreed<T>(engine: Engine, stream: StreamState, name: string, args: unknown[], make: () => T): Promise<T> {
  return (await engine.agree(stream, engine.identity('random', name, args), () => engine.runLocal(make))) as T
}

/** Serialize refills so concurrent calls consume one pool in call order. */
function queued<T>(p: Pool, step: () => Promise<T>): Promise<T> {
  const out = p.next.then(step)
  p.next = out.catch(() => {})
  return out
}

export function random(engine: Engine, stream: StreamState, mode: RandomMode, name = 'random', args: unknown[] = []): Promise<number> {
  switch (mode) {
    case 'call':
      return agreed(engine, stream, name, args, cryptoFloat)
    case 'batch': {
      const p = pool(stream)
      return queued(p, async () => {
        if (p.values.length === 0) {
          const block = await agreed(engine, stream, 'random.batch', [BATCH_SIZE], () => Array.from({ length: BATCH_SIZE }, cryptoFloat))
          p.values = block.slice().reverse()
        }
        return p.values.pop()!
      })
    }
    case 'seed': {
      const p = pool(stream)
      if (p.prng) return Promise.resolve(p.prng.nextFloat())
      return queued(p, async () => {
        if (!p.prng) {
          const seed = await agreed(engine, stream, 'random.seed', [], () => {
            let w: Uint32Array
            do w = crypto.getRandomValues(new Uint32Array(4))
            while (w.every((x) => x === 0))
            return Array.from(w)
          })
          p.prng = new Xoshiro128(seed)
        }
        return p.prng.nextFloat()
      })
    }
    default:
      throw badArgument(`random mode must be 'call', 'batch' or 'seed', got ${String(mode)}`)
  }
}

export { agreed as agreedRandom }
