// `repjs start` from the published package (npm pack, no demo in it): a local etcd and a gateway,
// one stdout line `Gateway: ws://...`, how to use them on stderr; SIGTERM stops both and exits 0.
// The demo's part (--sample, --web-port) says it needs a checkout. (With the demo, in a checkout:
// test/e2e/demo.test.ts.)
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, expect, test } from 'vitest'
import { freePort } from '../helpers/etcd.js'
import { outcome, spawnNode } from '../helpers/run-script.js'

const root = resolve(import.meta.dirname, '../..')
const dir = mkdtempSync(join(tmpdir(), 'repjs-start-pkg-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

function unpack(): string {
  const out = execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: root, encoding: 'utf8' })
  execFileSync('tar', ['xzf', join(dir, (JSON.parse(out) as { filename: string }[])[0]!.filename), '-C', dir])
  symlinkSync(join(root, 'node_modules'), join(dir, 'package', 'node_modules'), 'dir')
  return join(dir, 'package', 'dist', 'node-gateway', 'cli', 'main.js')
}

test('repjs start without the demo: etcd and a gateway, the Gateway line, SIGTERM stops them', async () => {
  const cli = unpack()
  const [port, gatewayPort] = [await freePort(), await freePort()]
  const args = ['start', '--port', String(port), '--data', join(dir, 'etcd'), '--gateway-port', String(gatewayPort)]
  expect(await outcome(spawnNode([cli, ...args, '--sample'], {}))).toMatchObject({ code: 1, stderr: expect.stringContaining('a built checkout of the repjs repository') })

  const p = spawnNode([cli, ...args], {})
  try {
    expect(await p.lines(1)).toEqual([`Gateway: ws://127.0.0.1:${gatewayPort}`])
    await p.stderrHas(`--etcd http://127.0.0.1:${port}`)
    const res = await fetch(`http://127.0.0.1:${gatewayPort}/dashboard`)
    expect(res.status).toBe(200)
    p.proc.kill('SIGTERM')
    expect(await p.exited).toBe(0)
    expect(p.stderr).toContain('Stopped.')
    expect(p.stderr).not.toContain('web server')
  } finally {
    await p.kill()
  }
}, 90_000)
