/**
 * Liveness of one gateway connection: a socket that sends no HELLO within `helloTimeoutMs` is
 * closed; after that the gateway pings every `pingIntervalMs` (WebSocket pings, which browsers
 * answer by themselves) and closes a peer it heard nothing from (no frame, no pong) for two
 * intervals. Timers are unref'd: they never keep a process alive.
 */
import type { WebSocket } from 'ws'

export interface LivenessOptions {
  /** Close a connection that sent no HELLO within this many ms (default 10 000). */
  helloTimeoutMs: number
  /** Ping every this many ms; close a peer silent for two intervals (default 15 000). */
  pingIntervalMs: number
}

export const DEFAULT_LIVENESS: LivenessOptions = { helloTimeoutMs: 10_000, pingIntervalMs: 15_000 }

/** Watch `ws`; `timeout(reason)` is called at most once. Returns the stop function. */
export function watchLiveness(ws: WebSocket, opts: LivenessOptions, helloed: () => boolean, timeout: (reason: string) => void): () => void {
  let lastHeard = Date.now()
  const heard = () => (lastHeard = Date.now())
  ws.on('message', heard)
  ws.on('pong', heard)
  ws.on('ping', heard)
  const hello = setTimeout(() => {
    if (!helloed()) timeout(`no HELLO within ${opts.helloTimeoutMs} ms`)
  }, opts.helloTimeoutMs)
  let lastTick = lastHeard
  const ping = setInterval(() => {
    const now = Date.now()
    // A tick far behind schedule means the gateway was blocked: frames may be waiting unread.
    if (now - lastTick > 1.5 * opts.pingIntervalMs) lastHeard = now
    lastTick = now
    const silent = now - lastHeard
    if (silent >= 2 * opts.pingIntervalMs) return timeout(`no frame and no pong for ${silent} ms (pinged every ${opts.pingIntervalMs} ms)`)
    if (ws.readyState === ws.OPEN) ws.ping()
  }, opts.pingIntervalMs)
  hello.unref?.()
  ping.unref?.()
  return () => {
    clearTimeout(hello)
    clearInterval(ping)
    ws.off('message', heard)
    ws.off('pong', heard)
    ws.off('ping', heard)
  }
}

/** Call `fire` at `atMs` (epoch ms), however far away (setTimeout alone overflows past 24.8 days). */
export function at(atMs: number, fire: () => void): () => void {
  let timer: ReturnType<typeof setTimeout>
  const arm = () => {
    const left = atMs - Date.now()
    if (left <= 0) return fire()
    timer = setTimeout(arm, Math.min(left, 2 ** 31 - 1))
    timer.unref?.()
  }
  arm()
  return () => clearTimeout(timer)
}
