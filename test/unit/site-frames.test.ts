// Call sites read from V8's frames (plain Node) are the ones the stack's text names (read with
// source maps enabled, where the text is read): same file, line and column, for the site reader
// itself and for what a replica records for each API call.
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { expect, test } from 'vitest'
import { uniqueRun, useEtcd } from '../helpers/etcd.js'

const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url))
const run = (file: string, flags: string[], env: Record<string, string> = {}) =>
  JSON.parse(execFileSync(process.execPath, [...flags, fixture(file)], { encoding: 'utf8', env: { ...process.env, ...env } })) as unknown

const etcd = useEtcd()

test('sites read from V8 frames equal the sites read from the stack text', () => {
  const frames = run('sites.mjs', []) as { reading: string; sites: Record<string, string> }
  const text = run('sites.mjs', ['--enable-source-maps']) as typeof frames
  expect(frames.reading).toBe('frames')
  expect(text.reading).toBe('text')
  expect(frames.sites).toEqual(text.sites)
  expect(frames.sites.based).toMatch(/^sites\.mjs:\d+:\d+$/)
  expect(frames.sites.async).toMatch(/^sites\.mjs:\d+:\d+$/)
  expect(frames.sites.eval).toMatch(/^\/virtual\/evaluated\.js:1:\d+$/)
  expect(Object.values(frames.sites).every((s) => s !== '')).toBe(true)
})

test('with a lowered Error.stackTraceLimit, a held site (a follower\'s) is the caller below RepJS\'s frames, as a captured one', () => {
  const { lowLimit } = run('sites.mjs', []) as { lowLimit: { held: string; captured: string } }
  expect(lowLimit.captured).toMatch(/^sites\.mjs:\d+:\d+$/)
  expect(lowLimit.held).toBe(lowLimit.captured)
})

test('a replica records the same API call sites whether read from frames or from text', () => {
  const lines = readFileSync(fixture('sites-api.mjs'), 'utf8').split('\n')
  const marked = lines.flatMap((l, i) => (l.includes('// site') ? [i + 1] : []))
  const frames = run('sites-api.mjs', [], { SITES_RUN: uniqueRun('sites-f'), REPJS_ETCD: etcd.endpoint }) as string[]
  const text = run('sites-api.mjs', ['--enable-source-maps'], { SITES_RUN: uniqueRun('sites-t'), REPJS_ETCD: etcd.endpoint }) as string[]
  expect(frames).toEqual(text)
  expect(frames).toHaveLength(8)
  for (const site of frames) {
    const m = /^sites-api\.mjs:(\d+):\d+$/.exec(site)
    expect(m, site).not.toBeNull()
    expect(marked).toContain(Number(m![1]))
  }
})
