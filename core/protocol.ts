/**
 * The gateway protocol, version 1 (subprotocol `repjs.v1`), spec in PROTOCOL.md.
 *   frame := type:varUint • field*      (fields in the order of SCHEMA[type], nothing after)
 * One binary WebSocket message is one frame. Message types are append-only: new messages get new
 * numbers, existing ones never change. Decoding consumes every byte or throws.
 */
import { ErrorCodes, RepJSError } from './errors.js'
import { Reader, WireError, Writer } from './wire.js'

export const SUBPROTOCOL = 'repjs.v1'
/**
 * repjs.v1's frames with one more rule (PROTOCOL.md, "DECIDED delivers"): a DECIDED answering a
 * PROPOSE also delivers its slot to the connection's subscriptions of that stream whose next slot it
 * is, and the gateway does not push that slot to them again. The reference client offers it first.
 */
export const SUBPROTOCOL_V2 = 'repjs.v2'
/** What the reference client offers, best first. */
export const SUBPROTOCOLS = [SUBPROTOCOL_V2, SUBPROTOCOL]

type FieldType = 'uint' | 'str' | 'bytes' | 'bool' | 'list'
interface FieldTypes {
  uint: number
  str: string
  bytes: Uint8Array
  bool: boolean
  list: Uint8Array[]
}
type Spec = { readonly code: number; readonly fields: readonly (readonly [string, FieldType])[] }

/** Every message: its type number and its fields, in wire order. C = client to gateway, S = gateway to client. */
export const SCHEMA = {
  hello: { code: 1, fields: [['run', 'str'], ['replica', 'str'], ['token', 'str'], ['meta', 'bytes']] }, // C
  welcome: { code: 2, fields: [['meta', 'bytes'], ['created', 'bool'], ['gateway', 'str']] }, // S
  propose: { code: 3, fields: [['id', 'uint'], ['stream', 'str'], ['slot', 'uint'], ['clearVotes', 'bool'], ['record', 'bytes']] }, // C
  decided: { code: 4, fields: [['id', 'uint'], ['won', 'bool'], ['record', 'bytes']] }, // S
  subscribe: { code: 5, fields: [['sub', 'uint'], ['stream', 'str'], ['from', 'uint']] }, // C
  slots: { code: 6, fields: [['sub', 'uint'], ['first', 'uint'], ['records', 'list']] }, // S
  caughtUp: { code: 7, fields: [['sub', 'uint']] }, // S
  unsubscribe: { code: 8, fields: [['sub', 'uint']] }, // C
  vote: { code: 9, fields: [['id', 'uint'], ['stream', 'str'], ['slot', 'uint'], ['value', 'bytes']] }, // C
  voted: { code: 10, fields: [['id', 'uint'], ['decided', 'bool'], ['record', 'bytes']] }, // S
  awaitVotes: { code: 11, fields: [['id', 'uint'], ['stream', 'str'], ['slot', 'uint'], ['n', 'uint']] }, // C
  votes: { code: 12, fields: [['id', 'uint'], ['values', 'list']] }, // S
  cancel: { code: 13, fields: [['id', 'uint']] }, // C
  acquire: { code: 14, fields: [['id', 'uint'], ['stream', 'str'], ['slot', 'uint'], ['ttlMs', 'uint']] }, // C
  acquired: { code: 15, fields: [['id', 'uint'], ['state', 'uint'], ['lock', 'uint'], ['hasBytes', 'bool'], ['bytes', 'bytes']] }, // S
  markStarted: { code: 16, fields: [['id', 'uint'], ['lock', 'uint'], ['marker', 'bytes']] }, // C
  ok: { code: 17, fields: [['id', 'uint']] }, // S
  decideLocked: { code: 18, fields: [['id', 'uint'], ['lock', 'uint'], ['record', 'bytes']] }, // C
  release: { code: 19, fields: [['lock', 'uint']] }, // C
  lockLost: { code: 20, fields: [['lock', 'uint']] }, // S
  ping: { code: 21, fields: [['n', 'uint']] }, // C
  pong: { code: 22, fields: [['n', 'uint']] }, // S
  error: { code: 23, fields: [['id', 'uint'], ['code', 'str'], ['message', 'str'], ['retryable', 'bool'], ['status', 'str']] }, // S
  attach: { code: 24, fields: [['id', 'uint'], ['stream', 'str'], ['slot', 'uint'], ['lock', 'uint']] }, // C
  // A HELLO with run lifecycle options: create a deleted/expired run again, a TTL if it creates the run (0: none).
  helloRun: { code: 25, fields: [['run', 'str'], ['replica', 'str'], ['token', 'str'], ['meta', 'bytes'], ['newRun', 'bool'], ['ttlMs', 'uint']] }, // C
  readSnapshot: { code: 30, fields: [['id', 'uint'], ['stream', 'str']] }, // C
  snapshot: { code: 31, fields: [['id', 'uint'], ['present', 'bool'], ['snapshot', 'bytes']] }, // S
  writeSnapshot: { code: 32, fields: [['id', 'uint'], ['stream', 'str'], ['slot', 'uint'], ['snapshot', 'bytes']] }, // C
  collect: { code: 33, fields: [['id', 'uint'], ['stream', 'str'], ['below', 'uint']] }, // C
  collected: { code: 34, fields: [['id', 'uint'], ['deleted', 'uint']] }, // S
  present: { code: 35, fields: [['value', 'bytes']] }, // C (presence, core/presence.ts; no answer)
  presenceOn: { code: 36, fields: [['ttlMs', 'uint']] }, // S (after WELCOME: this gateway stores PRESENT)
} as const satisfies Record<string, Spec>

export type MessageName = keyof typeof SCHEMA
type FieldsOf<F extends readonly (readonly [string, FieldType])[]> = { [E in F[number] as E[0]]: FieldTypes[E[1]] }
export type Messages = { [K in MessageName]: { type: K } & FieldsOf<(typeof SCHEMA)[K]['fields']> }
export type Message = Messages[MessageName]

/** ACQUIRED states. */
export const LOCK_DECIDED = 0
export const LOCK_BUSY = 1
export const LOCK_HELD = 2

/** WebSocket close codes (also in PROTOCOL.md). */
export const CLOSE = {
  GOING_AWAY: 1001, // gateway shutting down / restarting: reconnect, possibly elsewhere
  PROTOCOL_ERROR: 4000, // malformed frame, unknown message type, message before hello
  UNAUTHORIZED: 4001, // missing, expired or forged token
  FORBIDDEN_RUN: 4002, // token is for another run
  RATE_LIMITED: 4003, // too many messages or proposals in flight
  SLOW_CONSUMER: 4004, // too many bytes buffered for this client
  OVERLOADED: 4005, // over a gateway-wide or per-run connection cap: reconnect with backoff
  TIMEOUT: 4006, // no HELLO in time, or silent for two ping intervals: reconnect
  TOKEN_EXPIRED: 4007, // the token of an open connection expired: fetch a new one, reconnect
  TOO_BIG: 1009, // frame larger than the gateway's limit
  REPLACED: 4008, // another connection with this replica id joined this run on this gateway
  RUN_GONE: 4009, // the run was deleted or expired (its tombstone says so): final, REPJS_RUN_GONE
} as const

const BY_CODE = new Map<number, MessageName>(Object.entries(SCHEMA).map(([name, spec]) => [spec.code, name as MessageName]))

export class ProtocolError extends RepJSError {
  constructor(message: string, cause?: unknown) {
    super(ErrorCodes.PROTOCOL, message, { cause })
    this.name = 'ProtocolError'
  }
}

export function encodeMessage(msg: Message): Uint8Array {
  if (msg.type === 'propose') return writePropose(msg)
  if (msg.type === 'decided') return writeDecided(msg)
  return encodeBySchema(msg)
}

/** Any frame, by walking its SCHEMA entry (the reference the field-by-field codecs are tested against). */
export function encodeBySchema(msg: Message): Uint8Array {
  const spec = SCHEMA[msg.type] as Spec
  const fields = msg as unknown as Record<string, unknown>
  const w = new Writer(frameSize(spec, fields)).varUint(spec.code)
  for (const [name, type] of spec.fields) {
    const v = fields[name]
    switch (type) {
      case 'uint': w.varUint(v as number); break
      case 'str': w.string(v as string); break
      case 'bytes': w.bytes(v as Uint8Array); break
      case 'bool': w.bool(v as boolean); break
      case 'list': {
        const list = v as Uint8Array[]
        w.varUint(list.length)
        for (const b of list) w.bytes(b)
        break
      }
    }
  }
  return w.finish()
}

/** At least the bytes a frame takes (strings counted at 3 bytes a character), so its writer never grows. */
function frameSize(spec: Spec, fields: Record<string, unknown>): number {
  let n = 2
  for (const [name, type] of spec.fields) {
    const v = fields[name]
    if (type === 'bytes') n += (v as Uint8Array).length + 8
    else if (type === 'str') n += (v as string).length * 3 + 8
    else if (type === 'list') for (const b of v as Uint8Array[]) n += b.length + 8
    n += 8
  }
  return n
}

export interface DecodeLimits {
  /** Longest string field (bytes). */
  maxString?: number
  /** Most entries in a list field. */
  maxList?: number
}

/** Decode one frame. Throws ProtocolError (REPJS_PROTOCOL) or, for an unknown type, REPJS_UNKNOWN_MESSAGE. */
export function decodeMessage(bytes: Uint8Array, limits: DecodeLimits = {}): Message {
  return decodeFrame(bytes, limits, true)
}

/** Any frame, by walking its SCHEMA entry (the reference the field-by-field codecs are tested against). */
export function decodeBySchema(bytes: Uint8Array, limits: DecodeLimits = {}): Message {
  return decodeFrame(bytes, limits, false)
}

function decodeFrame(bytes: Uint8Array, limits: DecodeLimits, hot: boolean): Message {
  const r = new Reader(bytes)
  let code: number
  try {
    code = r.varUint()
  } catch (err) {
    throw new ProtocolError(`bad frame: ${(err as Error).message}`, err)
  }
  const name = BY_CODE.get(code)
  if (!name) throw new RepJSError(ErrorCodes.UNKNOWN_MESSAGE, `unknown message type ${code}; this peer speaks ${SUBPROTOCOL}`)
  if (hot && (code === PROPOSE || code === DECIDED)) {
    try {
      const msg = code === PROPOSE ? readPropose(r, limits.maxString ?? 4096) : readDecided(r)
      r.end()
      return msg
    } catch (err) {
      throw new ProtocolError(`bad ${name} frame: ${(err as Error).message}`, err)
    }
  }
  const out: Record<string, unknown> = { type: name }
  try {
    for (const [field, type] of (SCHEMA[name] as Spec).fields) {
      switch (type) {
        case 'uint': out[field] = r.varUint(); break
        case 'str': out[field] = r.string(limits.maxString ?? 4096); break
        case 'bytes': out[field] = r.bytes(); break
        case 'bool': out[field] = r.bool(); break
        case 'list': {
          const n = r.varUint()
          if (n > (limits.maxList ?? 100_000)) throw new WireError(`list of ${n} entries`)
          const list: Uint8Array[] = []
          for (let i = 0; i < n; i++) list.push(r.bytes())
          out[field] = list
          break
        }
      }
    }
    r.end()
  } catch (err) {
    throw new ProtocolError(`bad ${name} frame: ${(err as Error).message}`, err)
  }
  return out as unknown as Message
}

/*
 * PROPOSE and DECIDED, the two frames of every agreed call through a gateway, written and read
 * field by field (in SCHEMA's order) rather than by walking SCHEMA, whose stores of varying fields
 * into one object are slow (megamorphic) and showed in both ends' --cpu-prof. The same bytes and
 * messages: test/unit/protocol.test.ts checks both against the schema walk.
 */
const PROPOSE = SCHEMA.propose.code
const DECIDED = SCHEMA.decided.code

function writePropose(m: Messages['propose']): Uint8Array {
  return new Writer(m.record.length + m.stream.length * 3 + 40)
    .varUint(PROPOSE).varUint(m.id).string(m.stream).varUint(m.slot).bool(m.clearVotes).bytes(m.record).finish()
}

function writeDecided(m: Messages['decided']): Uint8Array {
  return new Writer(m.record.length + 24).varUint(DECIDED).varUint(m.id).bool(m.won).bytes(m.record).finish()
}

function readPropose(r: Reader, maxString: number): Messages['propose'] {
  // Fields are evaluated in source order: the wire order.
  return { type: 'propose', id: r.varUint(), stream: r.string(maxString), slot: r.varUint(), clearVotes: r.bool(), record: r.bytes() }
}

function readDecided(r: Reader): Messages['decided'] {
  return { type: 'decided', id: r.varUint(), won: r.bool(), record: r.bytes() }
}
