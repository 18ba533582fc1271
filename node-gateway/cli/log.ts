/** `repjs log --run R`: print a run's decided slots, one per line, decoded as data. */
import { createCodec } from '../../core/codec.js'
import { decodeMeta, decodeRecord, META_FORMAT } from '../../core/record.js'
import { createCborFormat } from '../codec/cbor-format.js'
import { createEtcdStore } from '../store/etcd-store.js'
import { metaKey } from '../store/keys.js'
import { inspect } from 'node:util'

export async function printLog(opts: { run: string; etcd: string[]; stream: string; from: number; limit: number }): Promise<void> {
  const store = createEtcdStore({ endpoints: opts.etcd })
  const codec = createCodec(createCborFormat())
  try {
    const meta = await store.client.get(metaKey(opts.run)).buffer()
    if (!meta) throw new Error(`run '${opts.run}' does not exist on ${opts.etcd.join(',')}`)
    const runMeta = decodeMeta(codec, meta, opts.run)
    process.stdout.write(`run ${opts.run}: ${inspect(runMeta, { breakLength: Infinity })}\n`)
    let printed = 0
    await new Promise<void>((resolve, reject) => {
      const stop = store.follow(opts.run, opts.stream, opts.from, {
        slot(slot, bytes) {
          if (printed >= opts.limit) return
          printed++
          const r = decodeRecord(codec, bytes, { run: opts.run, stream: opts.stream, slot }, { legacy: runMeta.format < META_FORMAT })
          const outcome = r.ok ? inspect(r.value, { breakLength: Infinity, depth: 4 }) : `throws ${inspect(r.value, { breakLength: Infinity }).split('\n')[0]}`
          process.stdout.write(`${opts.stream}#${slot} ${r.kind} ${r.name} args=${r.argsHash} by=${r.by} site=${r.site || '-'} -> ${outcome}\n`)
        },
        caughtUp() {
          stop()
          resolve()
        },
        error: reject,
      })
    })
  } finally {
    await store.close()
  }
}
