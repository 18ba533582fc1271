// Type-checked by `npm run typecheck` (not run): the decorator forms of `distributed`.
// A decorated method returns a Promise of the agreed value, so declare it async.
import type { Replica } from '../../node-gateway/index.js'

export function defineDice(rep: Replica) {
  class Dice {
    @rep.distributed
    async roll(): Promise<number> {
      return Math.floor(Math.random() * 6) + 1
    }

    @rep.distributed({ name: 'dice.roll2' })
    async roll2(): Promise<number> {
      return Math.floor(Math.random() * 6) + 1
    }
  }
  return new Dice()
}
