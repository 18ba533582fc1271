/**
 * The RepJS side of experiment "as-users-run-it" (users.mjs): a user's script in a fresh process,
 * N sequential `rep.now()` calls on one run, nothing warmed up.
 *
 *   node bench/users-replica.mjs <run> <N> <etcd-endpoint> [--program P]
 *
 * Prints one JSON line: the CLOCK_MONOTONIC instants (µs, the clock bench/lib.mjs's monoUs and
 * Python's time.monotonic() read) of the script's first line, just before its first call and just
 * after its last call returned, the process's CPU time (user + system, µs, since it started: every
 * thread, as Python's time.process_time()) at the two latter instants, and a digest of the values
 * it was given (every replica of a run
 * must print the same). The library is imported after the first instant, so "script start" is
 * Node's own start-up only; close and exit come after the last instant and are not timed.
 */
const monoUs = () => Number(process.hrtime.bigint()) / 1e3
const startUs = monoUs()
const [run, nArg, endpoint, flag, programArg] = process.argv.slice(2)
const N = Number(nArg)
if (!run || !Number.isInteger(N) || N < 1 || !endpoint || (flag !== undefined && flag !== '--program')) {
  console.error('usage: node bench/users-replica.mjs <run> <N> <etcd-endpoint> [--program P]')
  process.exit(2)
}
const { connect } = await import('../dist/node-gateway/index.js')
const rep = await connect({ run, etcd: endpoint, program: programArg ?? 'repjs-bench' })
try {
  const values = new Array(N)
  const firstCallUs = monoUs()
  const cpuFirst = process.cpuUsage()
  for (let i = 0; i < N; i++) values[i] = await rep.now()
  const lastCallUs = monoUs()
  const cpuLast = process.cpuUsage()
  let digest = 0
  for (const v of values) digest = (Math.imul(digest, 31) + (v % 0x7fffffff)) | 0
  const cpuFirstUs = cpuFirst.user + cpuFirst.system
  const cpuLastUs = cpuLast.user + cpuLast.system
  console.log(JSON.stringify({ startUs, firstCallUs, lastCallUs, cpuFirstUs, cpuLastUs, n: N, digest: (digest >>> 0).toString(16) }))
} finally {
  await rep.close()
}
