/**
 * Node CPU per agreed call of one replica, and per slot of a follower reading what it decides live
 * (its store's follow: range read, then the watch), for two builds side by side: each round runs
 * both builds at once (so other load on the machine weighs on both alike), in fresh processes on
 * the same etcd (fsync on: start it yourself), each build on its own run.
 *
 *   node bench/watch-cpu.mjs <etcd-endpoint> <distA> <distB> [--rounds R] [--warmup W] [--calls N]
 *
 * The replica makes W `now()` calls, then N timed by process.cpuUsage(); the follower, started
 * first, follows the main stream from slot 0 and times slots W..W+N the same way. One JSON line per
 * process, then the medians per build.
 */
import { fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const [, , role, ...rest] = process.argv
const cpu = () => {
  const u = process.cpuUsage()
  return u.user + u.system
}

if (role === 'replica') {
  const [dist, endpoint, run, W, N] = rest
  const { connect } = await import(`${dist}/node-gateway/index.js`)
  const rep = await connect({ run, etcd: endpoint })
  for (let i = 0; i < Number(W); i++) await rep.now()
  const c0 = cpu()
  const t0 = performance.now()
  for (let i = 0; i < Number(N); i++) await rep.now()
  const us = (cpu() - c0) / Number(N)
  const ms = (performance.now() - t0) / Number(N)
  await rep.close()
  process.send({ us, ms })
} else if (role === 'follower') {
  const [dist, endpoint, run, W, N] = rest
  const { EtcdStore } = await import(`${dist}/node-gateway/store/etcd-store.js`)
  const store = new EtcdStore({ endpoints: endpoint })
  let seen = 0
  let c0 = 0
  const stop = store.follow(run, 'main', 0, {
    slot: () => {
      seen++
      if (seen === Number(W)) c0 = cpu()
      if (seen === Number(W) + Number(N)) {
        const us = (cpu() - c0) / Number(N)
        stop()
        store.close().then(() => process.send({ us }))
      }
    },
    caughtUp: () => process.send({ ready: true }),
    error: (e) => {
      console.error(e)
      process.exit(1)
    },
  })
} else {
  const [endpoint, distA, distB] = [role, ...rest]
  const flag = (name, d) => {
    const i = rest.indexOf(`--${name}`)
    return i < 0 ? d : Number(rest[i + 1])
  }
  const rounds = flag('rounds', 4)
  const W = flag('warmup', 2000)
  const N = flag('calls', 5000)
  const self = fileURLToPath(import.meta.url)
  const results = { A: [], B: [] }
  /** One build's follower, then its replica; resolves with both results. */
  const pair = async (name, dist, i) => {
    const run = `watchcpu-${name}-${Date.now()}-${i}`
    let ready
    const readyP = new Promise((r) => (ready = r))
    const follower = new Promise((resolve, reject) => {
      const p = fork(self, ['follower', dist, endpoint, run, String(W), String(N)])
      let out
      p.on('message', (m) => (m.ready ? ready() : (out = m)))
      p.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`follower exited ${code}`))))
    })
    await readyP
    return { run, follower, ready: readyP }
  }
  const replica = (dist, run) =>
    new Promise((resolve, reject) => {
      const p = fork(self, ['replica', dist, endpoint, run, String(W), String(N)])
      let out
      p.on('message', (m) => (out = m))
      p.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`replica exited ${code}`))))
    })
  for (let i = 0; i < rounds; i++) {
    // Both builds at once, so the machine's other load weighs on them alike.
    const [a, b] = await Promise.all([pair('A', distA, i), pair('B', distB, i)])
    const [ra, rb] = await Promise.all([replica(distA, a.run), replica(distB, b.run)])
    const [fa, fb] = await Promise.all([a.follower, b.follower])
    for (const [name, r, f] of [
      ['A', ra, fa],
      ['B', rb, fb],
    ]) {
      const row = { build: name, round: i, replicaUsPerCall: +r.us.toFixed(1), msPerCall: +r.ms.toFixed(3), followerUsPerSlot: +f.us.toFixed(1) }
      console.log(JSON.stringify(row))
      results[name].push(row)
    }
  }
  const med = (xs) => {
    const s = [...xs].sort((a, b) => a - b)
    return s[Math.floor(s.length / 2)]
  }
  for (const [name, rows] of Object.entries(results)) {
    console.log(`${name}: replica ${med(rows.map((r) => r.replicaUsPerCall))} µs/call, follower ${med(rows.map((r) => r.followerUsPerSlot))} µs/slot, ${med(rows.map((r) => r.msPerCall))} ms/call (medians of ${rows.length})`)
  }
}
