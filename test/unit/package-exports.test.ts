// Every entry point in package.json resolves to built JavaScript with type declarations, and
// `import { connect } from 'repjs'` works from another project that depends on this one.
import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { expect, test } from 'vitest'

const root = resolve(import.meta.dirname, '../..')
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  exports: Record<string, string | { types: string; import: string }>
  bin: Record<string, string>
}

test('every export points at built JS and .d.ts files', () => {
  for (const [path, target] of Object.entries(pkg.exports)) {
    if (typeof target === 'string') {
      expect(existsSync(join(root, target)), path).toBe(true)
      continue
    }
    expect(existsSync(join(root, target.import)), `${path} import`).toBe(true)
    expect(existsSync(join(root, target.types)), `${path} types`).toBe(true)
  }
  for (const bin of Object.values(pkg.bin)) expect(existsSync(join(root, bin))).toBe(true)
})

test("another project imports { connect } from 'repjs' in plain Node ESM", () => {
  const project = mkdtempSync(join(tmpdir(), 'repjs-consumer-'))
  mkdirSync(join(project, 'node_modules'))
  symlinkSync(root, join(project, 'node_modules', 'repjs'), 'dir')
  writeFileSync(join(project, 'package.json'), JSON.stringify({ type: 'module', dependencies: { repjs: 'file:' + root } }))
  writeFileSync(
    join(project, 'main.mjs'),
    `import { connect, RepJSError } from 'repjs'
import * as node from 'repjs/node'
import * as core from 'repjs/core'
import * as browser from 'repjs/browser'
console.log(typeof connect, typeof node.connect, typeof core.createReplica, typeof browser.createReplica, typeof RepJSError)`,
  )
  const out = execFileSync(process.execPath, ['main.mjs'], { cwd: project, encoding: 'utf8' })
  expect(out.trim()).toBe('function function function function function')
})
