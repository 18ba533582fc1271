/**
 * Loaded with `node --expose-gc --import` into the `repjs gateway` child the benchmark starts, so the
 * gateway's memory can be read after a full GC. Answers {type:'probe', id, gc} on the IPC channel
 * with process.memoryUsage() and process.cpuUsage(). Nothing else: the gateway itself is unchanged.
 */
if (process.send) {
  process.on('message', (m) => {
    if (m?.type !== 'probe') return
    if (m.gc && globalThis.gc) {
      globalThis.gc()
      globalThis.gc()
    }
    process.send({ type: 'probe', id: m.id, mem: process.memoryUsage(), cpu: process.cpuUsage() })
  })
  process.channel?.unref()
}
