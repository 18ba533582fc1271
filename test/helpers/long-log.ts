/**
 * A long log written quickly for catch-up tests: a Node replica creates the run, then the slot
 * records (the very bytes a replica proposes: `encodeRecord`) are written 128 per etcd Txn.
 */
import { Etcd3 } from 'etcd3'
import { createCodec } from '../../core/codec.js'
import { encodeRecord } from '../../core/record.js'
import { connect, createCborFormat } from '../../node-gateway/index.js'
import { slotKey } from '../../node-gateway/store/keys.js'

/**
 * `n` slots of `Math.random` (what a `repjs run` script's Math.random() asks for) on the main
 * stream of a new run `run` with program id `program`. Resolves with the values, in slot order.
 */
export async function writeRandoms(o: { run: string; etcd: string; program: string; n: number }): Promise<number[]> {
  const rep = await connect({ run: o.run, etcd: o.etcd, program: o.program })
  await rep.close()
  const codec = createCodec(createCborFormat())
  const client = new Etcd3({ hosts: o.etcd })
  const values = Array.from({ length: o.n }, (_, i) => ((i * 7919) % 10007) / 10007)
  try {
    const txns: Promise<unknown>[] = []
    for (let i = 0; i < o.n; i += 128) {
      const ops = values.slice(i, i + 128).map((value, j) => {
        const at = { run: o.run, stream: 'main', slot: i + j }
        const rec = encodeRecord(codec, at, { kind: 'random', name: 'Math.random', argsHash: '-', site: 'writer.js:1', by: 'writer', ok: true, value })
        return client.put(slotKey(o.run, 'main', i + j)).value(Buffer.from(rec))
      })
      txns.push(client.if(slotKey(o.run, 'main', i), 'Create', '==', 0).then(...ops).commit())
      if (txns.length >= 16) await Promise.all(txns.splice(0))
    }
    await Promise.all(txns)
  } finally {
    client.close()
  }
  return values
}
