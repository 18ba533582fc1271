// A short replicated program: run it as several processes on the same run and every one prints
// the same lines. REPJS_ETCD and REPJS_RUN pick the etcd and the run.
import { connect } from 'repjs'

const rep = await connect({ run: process.env.REPJS_RUN ?? 'sample', program: 'sample@1' })
const rollDie = rep.distributed(() => 1 + Math.floor(Math.random() * 6), { name: 'rollDie' })
const start = await rep.now()
for (let round = 1; round <= 5; round++) {
  const [a, b] = [await rollDie(), await rollDie()]
  const t = (await rep.now()) - start
  const id = (await rep.randomUUID()).slice(0, 8)
  console.log(`round ${round}: dice ${a}+${b}=${a + b}  ticket ${id}  +${t} ms`)
}
await rep.close()
