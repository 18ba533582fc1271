// The one call-site reader both plain-script workers use (core/script/site.ts): stack lines of V8,
// Firefox and Safari, paths with spaces, URLs with queries; RepJS's own frames and the runtime's
// internals skipped; sites named relative to the script's folder, a path or a URL.
import { fileURLToPath } from 'node:url'
import { expect, test } from 'vitest'
import { createSiteReader, inScriptLayer, locate, siteName } from '../../core/script/site.js'

test('locate reads the location of V8, Firefox and Safari stack lines, and nothing else', () => {
  expect(locate('    at fn (/a b/x.js:3:7)')).toEqual({ file: '/a b/x.js', line: 3, column: 7 })
  expect(locate('    at /srv/app/node_modules/@scope/p/x.js:10:2')).toEqual({ file: '/srv/app/node_modules/@scope/p/x.js', line: 10, column: 2 })
  expect(locate('    at async main (file:///srv/app/main.mjs:12:7)')).toEqual({ file: 'file:///srv/app/main.mjs', line: 12, column: 7 })
  expect(locate('tick@http://127.0.0.1:5173/raw/a.js?v=1:4:9')).toEqual({ file: 'http://127.0.0.1:5173/raw/a.js?v=1', line: 4, column: 9 })
  expect(locate('    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)')?.file).toBe('node:internal/process/task_queues')
  expect(locate('    at new Promise (<anonymous>)')).toBeUndefined()
  expect(locate('    at eval (eval at run (file:///x.js:3:5), <anonymous>:1:1)')).toBeUndefined()
})

test('siteName: file:line relative to the script folder, a path or a URL; other files as they are', () => {
  expect(siteName('file:///srv/my%20app/main.mjs', 12, '/srv/my app/')).toBe('main.mjs:12')
  expect(siteName('/srv/app/lib/x.js', 3, '/srv/app/')).toBe('lib/x.js:3')
  expect(siteName('http://h:1/s/a%20b.js?t=2', 4, 'http://h:1/s/')).toBe('a b.js:4')
  expect(siteName('/elsewhere/x.js', null, '/srv/app/')).toBe('/elsewhere/x.js:0')
})

test("the reader skips RepJS's own frames and the runtime's; `direct` stops at the runtime's", () => {
  const reader = createSiteReader({ isOwn: (f) => f.includes('/repjs/'), base: () => '/srv/app/', frames: false })
  const stack = ['Error', '    at call (/opt/repjs/dist/core/script/x.js:1:1)', '    at Interface.x (node:readline:10:3)', '    at main (/srv/app/main.js:7:2)'].join('\n')
  expect(reader.ofStack(stack)).toBe('main.js:7')
  expect(reader.ofStack(stack, true)).toBe('')
  expect(reader.scriptFrames(stack)).toEqual(['    at Interface.x (node:readline:10:3)', '    at main (/srv/app/main.js:7:2)'])
})

test('the site of a call, read from V8 frames (below the patched function) and from the text alike', () => {
  const here = fileURLToPath(new URL('./', import.meta.url))
  for (const frames of [true, false]) {
    const reader = createSiteReader({ isOwn: inScriptLayer, base: () => here, frames })
    const patched = () => reader.now(patched)
    expect(patched()).toMatch(/^site-reader\.test\.ts:\d+$/)
  }
})

test('sites read from V8 frames are named relative to the folder of the moment (the names are cached per file and line)', () => {
  const here = fileURLToPath(new URL('./', import.meta.url))
  let base = here
  const reader = createSiteReader({ isOwn: inScriptLayer, base: () => base, frames: true })
  const patched = () => reader.now(patched)
  const lineA = () => patched()
  const lineB = () => patched()
  const [a, b] = [lineA(), lineB()]
  expect(a).toMatch(/^site-reader\.test\.ts:\d+$/)
  expect(b).not.toBe(a) // another line of the same file
  expect(lineA()).toBe(a)
  base = fileURLToPath(new URL('../', import.meta.url))
  expect(lineA()).toBe(`unit/${a}`)
})
