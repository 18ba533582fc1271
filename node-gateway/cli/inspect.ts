/**
 * `repjs inspect --run R [--etcd URL[,URL]] [--stream S|'*'] [--from N] [--limit N] [--follow] [--json]`
 * (and its alias `repjs log`): a run's decided log, decoded as data (record.ts), as an aligned
 * table or as JSON lines (json-value.ts says how values are written). Slots are printed in the
 * order the store delivers them: slot order for what is decided when it starts, then (--follow)
 * in the order they are decided, until Ctrl-C.
 */
import { inspect as show } from 'node:util'
import { createCodec, type Codec } from '../../core/codec.js'
import { ErrorCodes, RepJSError } from '../../core/errors.js'
import { decodeRecord, PLACED_FORMAT, type RunMeta } from '../../core/record.js'
import { createCborFormat } from '../../core/cbor-format.js'
import { createEtcdStore, type EtcdStore } from '../store/etcd-store.js'
import { readRun, runStreams } from '../store/run-streams.js'
import { oneShot } from './unreachable.js'
import { parse } from './args.js'
import { jsonValue } from './json-value.js'

export const INSPECT_USAGE = "usage: repjs inspect --run R [--etcd URL[,URL]] [--stream main|NAME|'*'] [--from 0] [--limit N] [--follow] [--json]"

/** One decided slot as inspect shows it. */
export interface InspectRow {
  stream: string
  slot: number
  kind: string
  name: string
  args: string
  site: string
  by: string
  ok: boolean
  value: unknown
  /** The agreed time of a time record, or when an input line was typed (ISO); null otherwise. */
  at: string | null
}

/** The agreed time a record carries: a `now` record's value, an input line's `at`. */
function agreedTime(kind: string, value: unknown): string | null {
  const ms = kind === 'now' ? value : kind === 'input' && typeof value === 'object' && value !== null ? (value as { at?: unknown }).at : undefined
  return typeof ms === 'number' && Number.isFinite(ms) ? new Date(ms).toISOString() : null
}

export function decodeRow(codec: Codec, meta: RunMeta, run: string, stream: string, slot: number, bytes: Uint8Array): InspectRow {
  const r = decodeRecord(codec, bytes, { run, stream, slot }, { legacy: meta.format < PLACED_FORMAT })
  return { stream, slot, kind: r.kind, name: r.name, args: r.argsHash, site: r.site, by: r.by, ok: r.ok, value: r.value, at: r.ok ? agreedTime(r.kind, r.value) : null }
}

/** One line, at most `width` characters: the value, or what was thrown. */
export function summarize(row: Pick<InspectRow, 'kind' | 'ok' | 'value'>, width = 40): string {
  const v = row.value
  let text: string
  if (!row.ok) {
    const e = v as { name?: unknown; message?: unknown; code?: unknown }
    text = v instanceof Error ? `throws ${e.name}${e.code !== undefined ? ` [${String(e.code)}]` : ''}: ${e.message}` : `throws ${show(v, { breakLength: Infinity })}`
  } else if (row.kind === 'input' && typeof v === 'object' && v !== null && 'line' in v) {
    const l = v as { line: unknown; who?: unknown }
    text = `${l.line === null ? 'end of input' : JSON.stringify(l.line)} (${String(l.who)})`
  } else {
    text = typeof v === 'string' ? JSON.stringify(v) : show(v, { breakLength: Infinity, depth: 2, maxArrayLength: 10, maxStringLength: 200 })
  }
  return clip(text.replace(/\s+/g, ' '), width)
}

function clip(s: string, width: number, keep: 'start' | 'end' = 'start'): string {
  if (s.length <= width) return s
  return keep === 'start' ? s.slice(0, width - 1) + '…' : '…' + s.slice(s.length - width + 1)
}

/** Table columns: fixed widths (rows stream out, so they cannot be measured first); long text is clipped. */
function tableWriter(out: (line: string) => void, streams: string[], slotDigits: number): (row: InspectRow | { stream: string; slot: number; error: RepJSError }) => void {
  const many = streams.length > 1
  const cols: Array<[string, number]> = [
    ...(many ? [['STREAM', Math.max(6, ...streams.map((s) => s.length))] as [string, number]] : []),
    ['SLOT', Math.max(4, slotDigits)], ['KIND', 6], ['NAME', 22], ['CALL SITE', 26], ['PROPOSER', 12], ['VALUE', 40], ['AGREED TIME', 24],
  ]
  const line = (cells: string[]) => out(cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(cols[i]![1]))).join('  ').trimEnd())
  line(cols.map(([h]) => h))
  return (row) => {
    const lead = [...(many ? [row.stream] : []), String(row.slot).padStart(cols[many ? 1 : 0]![1])]
    if ('error' in row) return line([...lead, '!', row.error.code, '', '', clip(row.error.message, 200)])
    line([...lead, clip(row.kind, 6), clip(row.name, 22), clip(row.site || '-', 26, 'end'), clip(row.by, 12), summarize(row), row.at ?? '-'])
  }
}

export async function inspectCommand(argv: string[]): Promise<void> {
  const { values } = parse(argv, {
    run: { type: 'string' }, etcd: { type: 'string', default: process.env.REPJS_ETCD ?? 'http://127.0.0.1:2379' },
    stream: { type: 'string', default: 'main' }, from: { type: 'string', default: '0' }, limit: { type: 'string' },
    follow: { type: 'boolean', default: false }, json: { type: 'boolean', default: false },
  })
  const run = values.run as string | undefined
  if (!run) throw new RepJSError(ErrorCodes.BAD_ARGUMENT, `repjs inspect needs --run R\n${INSPECT_USAGE}`)
  const from = Number(values.from)
  if (!(Number.isInteger(from) && from >= 0)) throw new RepJSError(ErrorCodes.BAD_ARGUMENT, `--from takes a slot number (a whole number ≥ 0), got ${String(values.from)}`)
  const limit = values.limit === undefined ? Infinity : Number(values.limit)
  if (!(Number.isInteger(limit) && limit >= 1) && limit !== Infinity) throw new RepJSError(ErrorCodes.BAD_ARGUMENT, `--limit takes a number of slots (a whole number ≥ 1), got ${String(values.limit)}`)
  const endpoints = String(values.etcd).split(',')
  // `repjs inspect ... | head`: the reader is gone, so is the need to print.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err
    process.exit(0)
  })
  const store = createEtcdStore({ endpoints })
  try {
    const bad = await oneShot(endpoints, () => inspectRun(store, { run, endpoints, stream: String(values.stream), from, limit, follow: Boolean(values.follow), json: Boolean(values.json) }))
    if (bad) throw new RepJSError(ErrorCodes.CORRUPT, `${bad} record(s) of run '${run}' did not decode (shown as '!' rows): they were not written by RepJS`)
  } finally {
    await store.close()
  }
}

interface InspectOptions {
  run: string
  endpoints: string[]
  stream: string
  from: number
  limit: number
  follow: boolean
  json: boolean
}

/** Print the log; resolves with the number of records that did not decode (with --follow: on Ctrl-C). */
async function inspectRun(store: EtcdStore, o: InspectOptions): Promise<number> {
  const codec = createCodec(createCborFormat())
  const meta = await readRun(store, codec, o.run, o.endpoints)
  const listed = await runStreams(store, o.run)
  const streams = o.stream === '*' ? listed : [o.stream]
  const write = (s: string) => process.stdout.write(s + '\n')
  let print: (row: InspectRow | { stream: string; slot: number; error: RepJSError }) => void
  if (o.json) {
    print = (row) => write(JSON.stringify('error' in row ? { stream: row.stream, slot: row.slot, error: { code: row.error.code, message: row.error.message } } : { ...row, value: jsonValue(row.value) }))
  } else {
    write(`run ${o.run} · program ${meta.program} · incarnation ${meta.incarnation} · replicas ${meta.replicas ?? '-'} · streams: ${listed.join(', ') || '(none)'}`)
    const heads = await Promise.all(streams.map((s) => store.headSlot(o.run, s)))
    print = tableWriter(write, streams, String(Math.max(0, ...heads)).length)
  }
  let shown = 0
  let bad = 0
  const stops: Array<() => void> = []
  return new Promise<number>((resolve, reject) => {
    const finish = () => {
      for (const stop of stops) stop()
      resolve(bad)
    }
    const onSlot = (stream: string) => (slot: number, bytes: Uint8Array) => {
      if (shown >= o.limit) return
      shown++
      try {
        print(decodeRow(codec, meta, o.run, stream, slot, bytes))
      } catch (err) {
        if (!RepJSError.is(err, ErrorCodes.CORRUPT)) return reject(err)
        bad++
        print({ stream, slot, error: err })
      }
      if (shown >= o.limit) finish()
    }
    if (o.follow) {
      process.once('SIGINT', finish)
      for (const s of streams) stops.push(store.follow(o.run, s, o.from, { slot: onSlot(s), caughtUp() {}, error: reject }))
      return
    }
    // Without --follow: each stream's slots decided now, one stream after another.
    const next = (i: number) => {
      if (i >= streams.length || shown >= o.limit) return finish()
      const stop = store.follow(o.run, streams[i]!, o.from, {
        slot: onSlot(streams[i]!),
        caughtUp: () => {
          stop()
          next(i + 1)
        },
        error: reject,
      })
      stops.push(stop)
    }
    next(0)
  })
}
