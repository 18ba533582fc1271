// The few Web-standard globals that exist alike in Node, browsers and Electron.
// core/ compiles with `types: []`, so nothing else (process, Buffer, window, document) is visible here.

declare function setTimeout(handler: (...args: unknown[]) => void, ms?: number): unknown
declare function clearTimeout(id: unknown): void
declare function setInterval(handler: (...args: unknown[]) => void, ms?: number): unknown
declare function clearInterval(id: unknown): void
declare function queueMicrotask(cb: () => void): void

interface AbortSignal {
  readonly aborted: boolean
  readonly reason: unknown
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void
  removeEventListener(type: 'abort', listener: () => void): void
  throwIfAborted(): void
}
declare var AbortSignal: { prototype: AbortSignal }
interface AbortController {
  readonly signal: AbortSignal
  abort(reason?: unknown): void
}
declare var AbortController: { prototype: AbortController; new (): AbortController }

interface TextEncoder { encode(input?: string): Uint8Array }
declare var TextEncoder: { prototype: TextEncoder; new (): TextEncoder }
interface TextDecoder { decode(input?: Uint8Array): string }
declare var TextDecoder: { prototype: TextDecoder; new (label?: string, options?: { fatal?: boolean; ignoreBOM?: boolean }): TextDecoder }

interface Crypto {
  getRandomValues<T extends Uint8Array | Uint16Array | Uint32Array | Int8Array | Int16Array | Int32Array | BigInt64Array | BigUint64Array>(array: T): T
}
declare var crypto: Crypto

interface Console {
  log(...data: unknown[]): void
  warn(...data: unknown[]): void
  error(...data: unknown[]): void
}
declare var console: Console

interface ImportMeta {
  readonly url: string
}

declare var performance: { now(): number }
