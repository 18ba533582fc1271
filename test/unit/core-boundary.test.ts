/**
 * core/ is the isomorphic engine: it must run unchanged in Node, browsers and Electron. So every
 * .ts file under core/ may import only relative files (inside core/), 'isomorphic-ws' and 'cbor-x',
 * and may not use the runtime-specific globals `process`, `Buffer`, `window` or `document` in code.
 * browser/ sits on core alone: it never imports node-gateway/.
 * Failures list every offending file:line.
 */
import { spawnSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, test } from 'vitest'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const CORE = join(ROOT, 'core')
const ALLOWED_PACKAGES = new Set(['isomorphic-ws', 'cbor-x'])
const BROWSER = join(ROOT, 'browser')
const NODE_GATEWAY = join(ROOT, 'node-gateway')
const FORBIDDEN_GLOBALS = ['process', 'Buffer', 'window', 'document']

function tsFiles(dir: string): string[] {
  const out: string[] = []
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isDirectory()) {
      if (e.name !== 'node_modules') out.push(...tsFiles(p))
    } else if (e.name.endsWith('.ts')) out.push(p)
  }
  return out.sort()
}

/**
 * Blanks comments (and, with `blankStrings`, the contents of string and template literals) while
 * keeping every newline and the length of every line, so indexes still map to file:line. Template
 * literal `${...}` expressions stay code. Regex literals are not parsed; core has none containing
 * quote or comment characters (and a miss here can only hide, never invent, a finding inside one).
 */
function stripComments(src: string, blankStrings = false): string {
  let out = ''
  let i = 0
  const blank = (s: string) => s.replace(/[^\n]/g, ' ')
  const templateDepth: number[] = [] // brace depth at which each open `${` started
  let braces = 0
  const readString = (quote: string): void => {
    // at src[i] === quote
    let j = i + 1
    while (j < src.length && src[j] !== quote && src[j] !== '\n') j += src[j] === '\\' ? 2 : 1
    const lit = src.slice(i, j + 1)
    out += blankStrings ? quote + blank(lit.slice(1, -1)) + lit.slice(-1) : lit
    i = j + 1
  }
  const readTemplateChunk = (): void => {
    // at the start of template text (just after ` or }); reads up to ` or ${
    let j = i
    while (j < src.length && src[j] !== '`' && !(src[j] === '$' && src[j + 1] === '{')) j += src[j] === '\\' ? 2 : 1
    const text = src.slice(i, j)
    out += blankStrings ? blank(text) : text
    i = j
    if (src[i] === '`') {
      out += '`'
      i++
    } else if (i < src.length) {
      out += '${'
      i += 2
      templateDepth.push(braces)
      braces++
    }
  }
  while (i < src.length) {
    const c = src[i]!
    const n = src[i + 1]
    if (c === '/' && n === '/') {
      const end = src.indexOf('\n', i)
      const stop = end === -1 ? src.length : end
      out += blank(src.slice(i, stop))
      i = stop
    } else if (c === '/' && n === '*') {
      const end = src.indexOf('*/', i + 2)
      const stop = end === -1 ? src.length : end + 2
      out += blank(src.slice(i, stop))
      i = stop
    } else if (c === '"' || c === "'") {
      readString(c)
    } else if (c === '`') {
      out += '`'
      i++
      readTemplateChunk()
    } else if (c === '{') {
      braces++
      out += c
      i++
    } else if (c === '}') {
      braces--
      out += c
      i++
      if (templateDepth.length && templateDepth[templateDepth.length - 1] === braces) {
        templateDepth.pop()
        readTemplateChunk()
      }
    } else {
      out += c
      i++
    }
  }
  return out
}

function lineOf(text: string, index: number): number {
  let line = 1
  for (let k = 0; k < index; k++) if (text.charCodeAt(k) === 10) line++
  return line
}

interface Finding {
  where: string
  what: string
}

function scan(file: string): Finding[] {
  return scanContent(readFileSync(file, 'utf8'), file)
}

function scanContent(src: string, file: string): Finding[] {
  const rel = relative(ROOT, file).split(sep).join('/')
  const code = stripComments(src) // strings kept: import specifiers live in them
  const bare = stripComments(src, true) // strings blanked: identifiers only
  const findings: Finding[] = []
  const at = (index: number, what: string) => findings.push({ where: `${rel}:${lineOf(src, index)}`, what })

  const checkSpecifier = (spec: string, index: number, how: string) => {
    if (spec.startsWith('./') || spec.startsWith('../')) {
      const target = resolve(dirname(file), spec)
      if (target !== CORE && !target.startsWith(CORE + sep)) at(index, `${how} '${spec}' leaves core/`)
    } else if (!ALLOWED_PACKAGES.has(spec)) {
      at(index, `${how} '${spec}' (only relative files and ${[...ALLOWED_PACKAGES].map((p) => `'${p}'`).join(', ')} are allowed)`)
    }
  }

  // import x from '...', import type {...} from '...', export * from '...', export {...} from '...'
  for (const m of code.matchAll(/\b(import|export)\b[^;'"`]*?\bfrom\s*(['"])([^'"\n]*)\2/g)) checkSpecifier(m[3]!, m.index!, `${m[1]} ... from`)
  // import '...' (side effects only)
  for (const m of code.matchAll(/\bimport\s*(['"])([^'"\n]*)\1/g)) checkSpecifier(m[2]!, m.index!, 'import')
  // import('...') and require('...'); a non-literal argument cannot be checked, so it is a finding
  for (const m of code.matchAll(/(?<![\w$.])(import|require)\s*\(\s*(?:(['"])([^'"\n]*)\2\s*\)|([^)]*))/g)) {
    if (m[3] !== undefined) checkSpecifier(m[3], m.index!, `${m[1]}()`)
    else at(m.index!, `${m[1]}(${m[4]!.trim()}) with a non-literal specifier`)
  }
  // import x = require('...') (TypeScript CommonJS form) is caught by the require( check above.

  // Runtime-specific globals, as identifiers in code (not in comments or strings, not as `.name`
  // property accesses; spread `...process` counts). globalThis.process etc. count too.
  const ident = new RegExp(`(?<![\\w$])(?<!(?<!\\.)\\.)(${FORBIDDEN_GLOBALS.join('|')})(?![\\w$])`, 'g')
  for (const m of bare.matchAll(ident)) at(m.index!, `uses the global '${m[1]}'`)
  const viaGlobal = new RegExp(`\\b(globalThis|self|global)\\s*(?:\\?\\.|\\.)\\s*(${FORBIDDEN_GLOBALS.join('|')})(?![\\w$])`, 'g')
  for (const m of bare.matchAll(viaGlobal)) at(m.index!, `uses '${m[1]}.${m[2]}'`)
  return findings
}

function report(findings: Finding[]): string {
  return findings.map((f) => `  ${f.where}: ${f.what}`).join('\n')
}

describe('core/ boundary', () => {
  const files = tsFiles(CORE)

  test('core/ has .ts files to check', () => {
    expect(files.length).toBeGreaterThan(5)
    expect(files.map((f) => relative(CORE, f))).toContain('codec.ts')
  })

  test('imports only relative files inside core/, isomorphic-ws and cbor-x; no process, Buffer, window, document', () => {
    const findings = files.flatMap(scan)
    expect(findings, `core/ boundary violations:\n${report(findings)}`).toEqual([])
  })

  test('core/tsconfig.json keeps lib ES2022 and types: []', () => {
    const cfg = JSON.parse(readFileSync(join(CORE, 'tsconfig.json'), 'utf8')) as { compilerOptions: { lib?: string[]; types?: string[] } }
    expect(cfg.compilerOptions.lib).toEqual(['ES2022'])
    expect(cfg.compilerOptions.types).toEqual([])
  })

  test('core compiles on its own (npx tsc -p core/tsconfig.json)', () => {
    const r = spawnSync('npx', ['tsc', '-p', 'core/tsconfig.json', '--noEmit'], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 })
    expect(r.error, String(r.error)).toBeUndefined()
    expect(r.status, `tsc failed:\n${r.stdout}\n${r.stderr}`).toBe(0)
  }, 180_000)
})

/** Relative imports (static, dynamic, re-exports) of one file that resolve into node-gateway/. */
function nodeGatewayImports(file: string): string[] {
  const code = stripComments(readFileSync(file, 'utf8'))
  const found: string[] = []
  for (const m of code.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*)(['"])(\.{1,2}\/[^'"\n]*)\1/g)) {
    const target = resolve(dirname(file), m[2]!)
    if (target === NODE_GATEWAY || target.startsWith(NODE_GATEWAY + sep)) found.push(`${relative(ROOT, file).split(sep).join('/')}:${lineOf(code, m.index!)}: '${m[2]}'`)
  }
  return found
}

describe('browser/ boundary', () => {
  test('browser/ imports core/ and packages, never node-gateway/', () => {
    const files = tsFiles(BROWSER)
    expect(files.length).toBeGreaterThan(5)
    const found = files.flatMap(nodeGatewayImports)
    expect(found, `browser/ imports node-gateway/:\n${found.join('\n')}`).toEqual([])
  })

  test('the check finds such an import', () => {
    // The same scan on a file that does import node-gateway/ (this test's own directory is outside browser/).
    const probe = join(ROOT, 'test', 'fixtures', 'imports-node-gateway.ts')
    expect(nodeGatewayImports(probe)).toEqual(["test/fixtures/imports-node-gateway.ts:2: '../../node-gateway/store/keys.js'"])
  })
})

describe('the boundary scanner itself', () => {
  // The same checks on a made-up source, so a broken pattern cannot make the real test pass vacuously.
  function scanForTest(src: string): string[] {
    return scanContent(src, join(CORE, '__virtual__.ts')).map((f) => `L${f.where.split(':').pop()} ${f.what}`)
  }

  test('flags packages, parent escapes, dynamic imports, require, and globals; ignores comments and strings', () => {
    const src = [
      "import { x } from 'node:fs'", // L1 flagged
      "import type { Y } from './ok.js'", // L2 ok
      "import {", // L3
      "  a,", // L4
      "} from 'msgpackr'", // L5 -> reported at L3 (statement start)
      "export * from '../node-gateway/index.js'", // L6 flagged: leaves core
      "import WebSocket from 'isomorphic-ws'", // L7 ok
      "const m = await import('undici')", // L8 flagged
      "const r = require('fs')", // L9 flagged
      "const d = import(name)", // L10 flagged: non-literal
      "// process.exit(1); import x from 'evil'", // L11 ignored: comment
      "/* Buffer.from(window.document) */", // L12 ignored
      "const s = 'process Buffer window document'", // L13 ignored: string
      "const url = import.meta.url", // L14 ok
      "if (typeof process !== 'undefined') {}", // L15 flagged
      "const b = Buffer.alloc(1)", // L16 flagged
      "const w = globalThis.window", // L17 flagged (via globalThis)
      "const o = { a: x.document }", // L18 ok: property access
      "const t = `${document.title} and window`", // L19 flagged once (document), not the text
      "const z = [...process.argv]", // L20 flagged (spread)
      "import './side-effect.js'", // L21 ok
      "import 'polyfill'", // L22 flagged
      "const q = \"// not a comment\"; const k = window", // L23 flagged (window after a string with //)
    ].join('\n')
    const found = scanForTest(src)
    const lines = (needle: string) => found.filter((f) => f.includes(needle)).map((f) => f.split(' ')[0])
    expect(lines("'node:fs'")).toEqual(['L1'])
    expect(lines("'msgpackr'")).toEqual(['L3'])
    expect(lines('leaves core/')).toEqual(['L6'])
    expect(lines("'undici'")).toEqual(['L8'])
    expect(lines("require() 'fs'")).toEqual(['L9'])
    expect(lines('non-literal')).toEqual(['L10'])
    expect(lines("'polyfill'")).toEqual(['L22'])
    expect(lines("global 'process'")).toEqual(['L15', 'L20'])
    expect(lines("global 'Buffer'")).toEqual(['L16'])
    expect(lines("global 'document'")).toEqual(['L19'])
    expect(lines("global 'window'")).toEqual(['L23'])
    expect(lines("'globalThis.window'")).toEqual(['L17'])
    expect(found.filter((f) => /^L(2|4|7|11|12|13|14|18|21) /.test(f))).toEqual([])
  })
})
