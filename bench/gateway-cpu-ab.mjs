/**
 * Gateway CPU per call, A/B: two checkouts (each built, `dist/`), each with its own `repjs gateway`
 * process and its own client process, on one etcd, driven in interleaved blocks so drift hits both
 * alike. Per checkout: the gateway's CPU per call (/proc), the client's CPU per call through the
 * gateway and direct to etcd, and p50 latency through the gateway / direct.
 *
 *   node bench/gateway-cpu-ab.mjs --a /path/to/base --b . [--n 3000] [--rounds 6] [--warm 2000]
 *        [--port 25300] [--prof DIR]   (--prof: --cpu-prof of every gateway and client into DIR)
 *
 * Not part of `npm run bench` (bench/gateway.mjs has the gated row): a tool for comparing changes.
 */
import { fork, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`)
  return i > 0 ? process.argv[i + 1] : dflt
}

if (process.argv[2] === 'client') await client(process.argv[3], process.argv[4], process.argv[5])
else await main()

/** A client process: a replica through the gateway and one direct to etcd, running calls on request. */
async function client(root, gateway, etcd) {
  const { connect } = await import(pathToFileURL(join(root, 'dist', 'node-gateway', 'index.js')).href)
  const tag = `${process.pid}-${Date.now().toString(36)}`
  const viaGw = await connect({ run: `ab-gw-${tag}`, gateway, program: 'ab' })
  const direct = await connect({ run: `ab-direct-${tag}`, etcd, program: 'ab' })
  const calls = { gateway: viaGw.distributed(() => Math.random(), { name: 'x' }), direct: direct.distributed(() => Math.random(), { name: 'x' }) }
  process.on('message', async (m) => {
    if (m.type === 'close') {
      await viaGw.close()
      await direct.close()
      process.exit(0)
    }
    const call = calls[m.kind]
    const lat = new Float64Array(m.n)
    const c0 = process.cpuUsage()
    for (let i = 0; i < m.n; i++) {
      const t = process.hrtime.bigint()
      await call()
      lat[i] = Number(process.hrtime.bigint() - t) / 1e3
    }
    const d = process.cpuUsage(c0)
    process.send({ type: 'done', cpuUs: d.user + d.system, sysUs: d.system, lat: [...lat] })
  })
  process.send({ type: 'ready' })
}

function cpuMs(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100
}
function sysMs(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  return (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[12]) * 1000) / 100
}

function lines(stream, fn) {
  let buf = ''
  stream.on('data', (d) => {
    buf += d
    let i
    while ((i = buf.indexOf('\n')) >= 0) (fn(buf.slice(0, i)), (buf = buf.slice(i + 1)))
  })
}

async function waitHealthy(url) {
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(`${url}/health`)).ok) return
    } catch {}
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error('etcd not healthy')
}

async function main() {
  const roots = { A: resolve(arg('a')), B: resolve(arg('b', '.')) }
  const n = Number(arg('n', 3000))
  const rounds = Number(arg('rounds', 6))
  const warm = Number(arg('warm', 2000))
  const port = Number(arg('port', 25300))
  const prof = arg('prof')
  const profArgs = (name) => (prof ? ['--cpu-prof', `--cpu-prof-dir=${resolve(prof)}`, `--cpu-prof-name=${name}.cpuprofile`] : [])
  const dir = mkdtempSync(join(tmpdir(), 'gw-ab-'))
  const etcdUrl = `http://127.0.0.1:${port}`
  const peer = `http://127.0.0.1:${port + 1}`
  const etcd = spawn('etcd', ['--data-dir', dir, '--listen-client-urls', etcdUrl, '--advertise-client-urls', etcdUrl, '--listen-peer-urls', peer,
    '--initial-advertise-peer-urls', peer, '--initial-cluster', `default=${peer}`, '--log-level', 'error'], { stdio: 'ignore' })
  const kids = []
  try {
    await waitHealthy(etcdUrl)
    const side = {}
    let p = port + 10
    for (const [name, root] of Object.entries(roots)) {
      const gw = spawn(process.execPath, [...profArgs(`gw-${name}`), join(root, 'dist', 'node-gateway', 'cli', 'main.js'), 'gateway', '--etcd', etcdUrl, '--port', String(p++)], {
        stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, REPJS_LOG_LEVEL: 'warn' },
      })
      kids.push(gw)
      const url = await new Promise((res, rej) => {
        lines(gw.stdout, (l) => { const m = /^Gateway: (ws:\/\/\S+)/.exec(l); if (m) res(m[1]) })
        gw.on('exit', (c) => rej(new Error(`gateway ${name} exited ${c}`)))
      })
      const cl = fork(new URL(import.meta.url).pathname, ['client', root, url, etcdUrl], { execArgv: profArgs(`client-${name}`) })
      kids.push(cl)
      const ask = (msg) => new Promise((res) => { cl.once('message', res); if (msg) cl.send(msg) })
      await ask()
      side[name] = { gw, cl, ask, acc: { gateway: { cpu: 0, sys: 0, gwCpu: 0, gwSys: 0, lat: [] }, direct: { cpu: 0, sys: 0, gwCpu: 0, gwSys: 0, lat: [] } } }
    }
    for (const s of Object.values(side)) for (const kind of ['gateway', 'direct']) await s.ask({ kind, n: warm })
    const block = Math.ceil(n / rounds)
    const names = Object.keys(side)
    for (let r = 0; r < rounds; r++) {
      for (let j = 0; j < names.length; j++) {
        const s = side[names[(r + j) % names.length]]
        for (const kind of r % 2 ? ['gateway', 'direct'] : ['direct', 'gateway']) {
          const g0 = cpuMs(s.gw.pid)
          const gs0 = sysMs(s.gw.pid)
          const got = await s.ask({ kind, n: block })
          const a = s.acc[kind]
          a.gwCpu += cpuMs(s.gw.pid) - g0
          a.gwSys += sysMs(s.gw.pid) - gs0
          a.cpu += got.cpuUs
          a.sys += got.sysUs
          a.lat.push(...got.lat)
        }
      }
    }
    const p50 = (a) => a.slice().sort((x, y) => x - y)[Math.floor(a.length / 2)]
    const calls = block * rounds
    for (const [name, s] of Object.entries(side)) {
      const g = s.acc.gateway
      const d = s.acc.direct
      console.log(`${name} (${roots[name]}): ${calls} calls each`)
      console.log(`  gateway CPU/call ${((g.gwCpu * 1000) / calls).toFixed(0)} µs, of it system ${((g.gwSys * 1000) / calls).toFixed(0)} µs (during direct blocks: ${((d.gwCpu * 1000) / calls).toFixed(0)} µs)`)
      console.log(`  client CPU/call through gateway ${(g.cpu / calls).toFixed(0)} µs (system ${(g.sys / calls).toFixed(0)}), direct ${(d.cpu / calls).toFixed(0)} µs (system ${(d.sys / calls).toFixed(0)})`)
      console.log(`  p50 through gateway ${p50(g.lat).toFixed(0)} µs, direct ${p50(d.lat).toFixed(0)} µs, ratio ${(p50(g.lat) / p50(d.lat)).toFixed(3)}x`)
    }
    for (const s of Object.values(side)) {
      s.cl.send({ type: 'close' })
      await new Promise((res) => s.cl.once('exit', res))
      s.gw.kill('SIGTERM')
      await new Promise((res) => s.gw.once('exit', res))
    }
  } finally {
    for (const k of kids) if (k.exitCode === null) k.kill('SIGKILL')
    etcd.kill('SIGTERM')
    await new Promise((res) => etcd.once('exit', res))
    rmSync(dir, { recursive: true, force: true })
  }
}
