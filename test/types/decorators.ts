// Type-checked by `npm run typecheck` (not run): the decorator forms of `distributed`.
import type { Replica } from '../../node-gateway/index.js'

export function defineDice(rep: Replica) {
  class Dice {
    @rep.distributed
    roll(): number {
      return Math.floor(Math.random() * 6) + 1
    }

    @rep.distributed({ name: 'dice.roll2' })
    roll2(): number {
      return Math.floor(Math.random() * 6) + 1
    }
  }
  return new Dice()
}
