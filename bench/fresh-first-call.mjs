/**
 * A fresh process's connect() and first `rep.now()`: wall time (ms) and the process's CPU (ms) at
 * each point, then N more calls. Prints one JSON line.
 *
 *   node bench/fresh-first-call.mjs <run> <N> <etcd-endpoint> [dist-dir]
 */
const { run, n, endpoint, dist } = { run: process.argv[2], n: Number(process.argv[3]), endpoint: process.argv[4], dist: process.argv[5] ?? new URL('../dist', import.meta.url).pathname }
const cpu = () => { const c = process.cpuUsage(); return (c.user + c.system) / 1e3 }
const { connect } = await import(`${dist}/node-gateway/index.js`)
const t0 = performance.now(); const c0 = cpu()
const rep = await connect({ run, etcd: endpoint, program: 'repjs-bench' })
const t1 = performance.now(); const c1 = cpu()
await rep.now()
const t2 = performance.now(); const c2 = cpu()
for (let i = 1; i < n; i++) await rep.now()
const t3 = performance.now(); const c3 = cpu()
console.log(JSON.stringify({ connectMs: +(t1 - t0).toFixed(2), connectCpuMs: +(c1 - c0).toFixed(2), firstMs: +(t2 - t1).toFixed(2), firstCpuMs: +(c2 - c1).toFixed(2), restMsPerCall: +((t3 - t2) / Math.max(1, n - 1)).toFixed(3), restCpuMs: +(c3 - c2).toFixed(1) }))
await rep.close()
