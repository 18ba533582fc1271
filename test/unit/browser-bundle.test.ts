// The browser entries bundle with vite as a consumer's app would (cbor-x, idb-keyval and
// isomorphic-ws resolve to their browser builds, no Node module sneaks in), and importing the
// gateway entry in a browser bundle fails at once with an error saying the gateway runs in Node.
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { afterAll, expect, test } from 'vitest'
import { build, type Rollup } from 'vite'

const root = resolve(import.meta.dirname, '../..')
const project = mkdtempSync(join(tmpdir(), 'repjs-bundle-'))
mkdirSync(join(project, 'node_modules'))
symlinkSync(root, join(project, 'node_modules', 'repjs'), 'dir')
writeFileSync(join(project, 'package.json'), JSON.stringify({ type: 'module', private: true }))
afterAll(() => rmSync(project, { recursive: true, force: true }))

async function bundle(name: string, source: string): Promise<string> {
  const entry = join(project, `${name}.js`)
  writeFileSync(entry, source)
  const out = (await build({
    configFile: false,
    root: project,
    logLevel: 'silent',
    build: { write: false, minify: false, lib: { entry, formats: ['es'], fileName: name } },
  })) as Rollup.RollupOutput | Rollup.RollupOutput[]
  const chunks = (Array.isArray(out) ? out : [out]).flatMap((o) => o.output).filter((c): c is Rollup.OutputChunk => c.type === 'chunk')
  return chunks.map((c) => c.code).join('\n')
}

test("'repjs/browser' and 'repjs/browser/prompt' bundle for the browser", async () => {
  const code = await bundle(
    'app',
    `import { connect, RepJSError } from 'repjs/browser'
import { RepJSPrompt } from 'repjs/browser/prompt'
export { connect, RepJSError, RepJSPrompt }`,
  )
  expect(code).toContain('repjs-prompt')
  expect(code).toContain("createStore('repjs', 'slots')".replace(/'/g, '"')) // idb-keyval store
  for (const nodeOnly of ['node:http', 'node:crypto', 'etcd3', '@grpc', 'cbor-extract', 'WebSocketServer']) expect(code, nodeOnly).not.toContain(nodeOnly)
}, 60_000)

test("'repjs/gateway' in a browser bundle fails at once, saying the gateway runs in Node", async () => {
  const code = await bundle('gw', `import { startGateway } from 'repjs/gateway'\nexport const start = startGateway`)
  expect(code).not.toContain('etcd3')
  const file = join(project, 'gw-out.mjs')
  writeFileSync(file, code)
  const err = await import(pathToFileURL(file).href).then(() => undefined, (e: unknown) => e)
  expect(err).toMatchObject({ code: 'REPJS_SETUP' })
  expect((err as Error).message).toMatch(/gateway is a Node server.*repjs\/browser/)
}, 60_000)
