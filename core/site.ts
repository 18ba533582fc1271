/**
 * The caller's source position (file:line:col) for the library API's calls, read from a stack
 * trace with the one stack-line reader (core/script/site.ts). Informational only.
 */
import { locate } from './script/site.js'

const here = import.meta.url
const strip = (f: string) => (f.startsWith('file://') ? f.slice(7) : f)
const root = strip(here.slice(0, here.lastIndexOf('/core/') + 1))
const ownDirs = ['core/', 'node-gateway/', 'browser/'].map((d) => root + d)

/**
 * Capture the stack now (cheap: V8 formats `.stack` lazily) and return a function that formats the
 * site on first use, so replaying from the cache never pays for formatting. The stack is read as
 * text, through the runtime's own formatting, so source maps (`--enable-source-maps`, a test
 * runner's) apply to the site as they do to errors.
 */
export function captureSite(base?: string): () => string {
  const holder = new Error()
  let site: string | undefined
  return () => (site ??= siteOf(holder.stack, base))
}

export function callSite(base?: string): string {
  return siteOf(new Error().stack, base)
}

/** The first frame outside RepJS and the runtime's internals (`node:...`), as file:line:col (file relative to `base`). */
export function siteOf(stack: string | undefined, base?: string): string {
  if (!stack) return ''
  for (const raw of stack.split('\n').slice(1)) {
    const at = locate(raw)
    if (!at) continue
    let file = strip(at.file)
    if (file.startsWith('node:') || ownDirs.some((d) => file.startsWith(d))) continue
    if (base && file.startsWith(strip(base))) file = file.slice(strip(base).length)
    return `${file}:${at.line}:${at.column}`
  }
  return ''
}
