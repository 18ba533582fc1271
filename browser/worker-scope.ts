/**
 * What the script's Web Worker (browser/worker-boot.ts and its siblings) uses of its
 * DedicatedWorkerGlobalScope (the project's types are DOM's), the originals the patches replace,
 * and which stack frames are the bootstrap's own.
 */
import { inScriptLayer } from '../core/script/site.js'
import type { FromWorker } from './worker-protocol.js'

export interface WorkerScope {
  postMessage(message: FromWorker): void
  addEventListener(type: string, listener: (e: any) => void, opts?: AddEventListenerOptions): void
  removeEventListener(type: string, listener: (e: any) => void): void
  close(): void
  setTimeout(fn: unknown, ms?: number, ...args: unknown[]): number
  setInterval(fn: unknown, ms?: number, ...args: unknown[]): number
  clearTimeout(id?: number): void
  clearInterval(id?: number): void
  fetch: typeof fetch
}

export const scope = globalThis as unknown as WorkerScope
export const post = (m: FromWorker) => scope.postMessage(m)

/** This file's folder: frames from RepJS's own worker files are skipped when finding the call site. */
const ownUrl = import.meta.url.split('?')[0]!
const ownDir = ownUrl.slice(0, ownUrl.lastIndexOf('/') + 1) // (not new URL('./', import.meta.url): bundlers rewrite that)
const ownFile = /\/worker-[a-z-]+\.[jt]s(\?|:|$)/

/** A frame of the bootstrap: its files (one file when bundled), or the shared layer (core/script/). */
export function isOwn(file: string): boolean {
  const f = file.split('?')[0]!
  return f === ownUrl || (f.startsWith(ownDir) && ownFile.test(f)) || inScriptLayer(f)
}
