/** The caller's source position (file:line:col), read from a stack trace. Informational only. */
const here = import.meta.url
const root = here.slice(0, here.lastIndexOf('/core/') + 1)
const ownDirs = ['core/', 'node-gateway/', 'browser/'].map((d) => root + d)

export function callSite(base?: string): string {
  const stack = new Error().stack
  if (!stack) return ''
  for (const raw of stack.split('\n').slice(1)) {
    const m = /((?:file|https?|node):\/\/?[^\s()]+|\/[^\s()]+):(\d+):(\d+)/.exec(raw)
    if (!m) continue
    let file = m[1]!
    if (file.startsWith('node:') || ownDirs.some((d) => file.startsWith(d))) continue
    if (base && file.startsWith(base)) file = file.slice(base.length)
    else if (file.startsWith('file://')) file = file.slice(7)
    return `${file}:${m[2]}:${m[3]}`
  }
  return ''
}
