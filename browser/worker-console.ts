/**
 * The script's console in its Web Worker under `runInWorker()`: console.log / info / debug go to
 * the page as stdout, warn / error / trace as stderr, formatted as Node formats them (strings and
 * numbers exactly; objects roughly so).
 */
import { post } from './worker-scope.js'

/** A small util.format: strings and numbers print exactly as Node prints them; objects roughly so. */
export function format(args: unknown[]): string {
  if (args.length === 0) return ''
  let out = ''
  let rest = args
  if (typeof args[0] === 'string') {
    let i = 1
    out = args[0].replace(/%[sdifjoOc%]/g, (spec) => {
      if (spec === '%%') return '%'
      if (i >= args.length) return spec
      const a = args[i++]
      switch (spec) {
        case '%s':
          return typeof a === 'string' ? a : typeof a === 'bigint' ? `${a}n` : typeof a === 'object' && a !== null ? inspect(a, 1) : String(a)
        case '%d':
          return typeof a === 'bigint' ? `${a}n` : typeof a === 'object' ? 'NaN' : String(Number(a))
        case '%i':
          return typeof a === 'bigint' ? `${a}n` : String(parseInt(String(a), 10))
        case '%f':
          return String(parseFloat(String(a)))
        case '%j':
          try {
            return JSON.stringify(a)
          } catch {
            return '[Circular]'
          }
        case '%c':
          return ''
        default:
          return inspect(a)
      }
    })
    rest = args.slice(i)
  } else {
    out = inspect(args[0])
    rest = args.slice(1)
  }
  for (const a of rest) out += ' ' + (typeof a === 'string' ? a : inspect(a))
  return out
}

export function inspect(v: unknown, depth = 2, seen: unknown[] = []): string {
  switch (typeof v) {
    case 'string':
      return seen.length ? `'${v.replace(/'/g, "\\'")}'` : v
    case 'number':
      return Object.is(v, -0) ? '-0' : String(v)
    case 'bigint':
      return `${v}n`
    case 'undefined':
      return 'undefined'
    case 'boolean':
      return String(v)
    case 'symbol':
      return v.toString()
    case 'function':
      return `[Function: ${v.name || '(anonymous)'}]`
  }
  if (v === null) return 'null'
  if (v instanceof Error) return v.stack ?? `${v.name}: ${v.message}`
  if (v instanceof Date) return isNaN(v.getTime()) ? 'Invalid Date' : v.toISOString()
  if (v instanceof RegExp) return String(v)
  if (seen.includes(v)) return '[Circular *1]'
  const inner = [...seen, v]
  const item = (x: unknown) => (typeof x === 'string' ? `'${x.replace(/'/g, "\\'")}'` : inspect(x, depth - 1, inner))
  if (ArrayBuffer.isView(v) && !(v instanceof DataView)) {
    const arr = Array.from(v as unknown as ArrayLike<number>)
    return `${v.constructor.name}(${arr.length}) [${arr.length ? ' ' + arr.map(String).join(', ') + ' ' : ''}]`
  }
  if (Array.isArray(v)) {
    if (depth < 0) return '[Array]'
    return v.length ? `[ ${v.map(item).join(', ')} ]` : '[]'
  }
  if (v instanceof Map) return `Map(${v.size}) {${v.size ? ' ' + [...v].map(([k, x]) => `${item(k)} => ${item(x)}`).join(', ') + ' ' : ''}}`
  if (v instanceof Set) return `Set(${v.size}) {${v.size ? ' ' + [...v].map(item).join(', ') + ' ' : ''}}`
  if (depth < 0) return '[Object]'
  const keys = Object.keys(v as object)
  const body = keys.map((k) => `${/^[A-Za-z_$][\w$]*$/.test(k) ? k : `'${k}'`}: ${item((v as Record<string, unknown>)[k])}`)
  const ctor = (v as object).constructor
  const prefix = ctor && ctor !== Object && ctor.name ? `${ctor.name} ` : Object.getPrototypeOf(v) === null ? '[Object: null prototype] ' : ''
  return `${prefix}${body.length ? `{ ${body.join(', ')} }` : '{}'}`
}

export function installConsole(): void {
  const write = (stream: 'stdout' | 'stderr') => (...args: unknown[]) => post({ t: 'out', stream, text: format(args) + '\n' })
  for (const k of ['log', 'info', 'debug'] as const) console[k] = write('stdout')
  for (const k of ['warn', 'error'] as const) console[k] = write('stderr')
  console.trace = (...args: unknown[]) => {
    const frames = (new Error().stack ?? '').split('\n').slice(2).join('\n')
    post({ t: 'out', stream: 'stderr', text: `Trace: ${format(args)}\n${frames}\n` })
  }
}
