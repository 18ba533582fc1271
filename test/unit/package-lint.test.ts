// The package as published (`npm pack` of the built tree) passes publint (--strict: warnings fail
// too) and @arethetypeswrong/cli (profile esm-only: repjs is ESM-only by design, so CommonJS
// `require` and node10's resolution of subpaths are out of scope; every ESM and bundler resolution
// of every entry point must find its JavaScript and matching types).
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, expect, test } from 'vitest'

const run = promisify(execFile)
const root = resolve(import.meta.dirname, '../..')
const bin = (name: string) => join(root, 'node_modules', '.bin', name)
const dir = mkdtempSync(join(tmpdir(), 'repjs-pack-'))
let tarball = ''

beforeAll(async () => {
  // --ignore-scripts: `prepare` would build again; the tests run on the tree pretest built.
  const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: root })
  tarball = join(dir, (JSON.parse(stdout) as { filename: string }[])[0]!.filename)
}, 60_000)
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** Exit status and output of a command that may fail. */
async function status(cmd: string, args: string[]): Promise<{ code: number; out: string }> {
  try {
    const { stdout, stderr } = await run(cmd, args, { cwd: dir, env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' } })
    return { code: 0, out: stdout + stderr }
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string }
    return { code: typeof e.code === 'number' ? e.code : -1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` }
  }
}

test('publint --strict passes on the packed package', async () => {
  const r = await status(bin('publint'), ['run', tarball, '--strict'])
  expect(r.code, r.out).toBe(0)
}, 60_000)

test('@arethetypeswrong/cli (esm-only) passes on the packed package', async () => {
  const r = await status(bin('attw'), [tarball, '--profile', 'esm-only', '--format', 'ascii'])
  expect(r.code, r.out).toBe(0)
  expect(r.out).toContain('"repjs/browser"') // it looked at the subpath entry points, not only "."
}, 60_000)
