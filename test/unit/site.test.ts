import { fileURLToPath } from 'node:url'
import { expect, test } from 'vitest'
import { callSite, captureSite, siteOf } from '../../core/site.js'

const file = fileURLToPath(import.meta.url)
/** line:col of the `callSite`/`captureSite` call on the caller's line, from a stack text. */
const lineOf = (stack: string) => /site\.test\.ts:(\d+):\d+/.exec(stack.split('\n')[1]!)![1]

test('callSite names the first frame outside RepJS, with line and column, source-mapped like errors', () => {
  const here = new Error().stack!; const site = callSite()
  expect(site).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:${lineOf(here)}:\\d+$`))
  expect(callSite(file.slice(0, file.lastIndexOf('/') + 1))).toMatch(/^site\.test\.ts:\d+:\d+$/)
})

test('captureSite holds the stack of its call and reads it only when asked', () => {
  const here = new Error().stack!; const get = captureSite()
  expect(get()).toMatch(new RegExp(`site\\.test\\.ts:${lineOf(here)}:\\d+$`))
  expect(get()).toBe(get())
})

test('RepJS frames and node: internals are skipped, also a node: frame before the program\'s', () => {
  const root = fileURLToPath(new URL('../../', import.meta.url))
  const stack = [
    'Error',
    `    at captureSite (${root}core/site.ts:40:18)`,
    `    at Engine.slot (file://${root}node-gateway/store/etcd-store.ts:1:2)`,
    '    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)',
    `    at main (file://${root}app/main.mjs:12:7)`,
    `    at later (${root}app/other.mjs:3:1)`,
  ].join('\n')
  expect(siteOf(stack)).toBe(`${root}app/main.mjs:12:7`)
  expect(siteOf(stack, `file://${root}app/`)).toBe('main.mjs:12:7')
  expect(siteOf('Error\n    at <anonymous>')).toBe('')
})
