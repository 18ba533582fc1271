// The same sequence of non-deterministic calls, run by browser tabs (pages/main.ts) and by the Node
// replica in browser.test.ts: every replica must get the same values.
import type { Replica } from '../../../core/replica.js'

export async function workload(rep: Replica, count: number, from = 0): Promise<number[]> {
  const roll = rep.distributed((i: number) => i * 1000 + Math.floor(Math.random() * 1000), { name: 'roll' })
  const out: number[] = []
  for (let i = from; i < from + count; i++) {
    if (i % 3 === 0) out.push(await rep.now())
    else if (i % 3 === 1) out.push(await rep.random())
    else out.push(await roll(i))
  }
  return out
}
