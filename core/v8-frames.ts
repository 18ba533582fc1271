/**
 * V8's structured stack frames (the CallSite API), where the runtime has them (Node, Chromium,
 * Electron): one capture for both call-site readers, the async API's (site.ts) and the plain-script
 * runtimes' (script/site.ts). Elsewhere `captureStackTrace` is absent and callers read stack text.
 */
export interface V8Frame {
  getScriptNameOrSourceURL?(): string | null | undefined
  getFileName(): string | null | undefined
  getLineNumber(): number | null
  getColumnNumber(): number | null
}

type V8ErrorConstructor = ErrorConstructor & {
  prepareStackTrace?: (err: Error, frames: V8Frame[]) => unknown
  captureStackTrace?: (target: object, above?: Function) => void
  stackTraceLimit?: number
}

export const V8Error = Error as V8ErrorConstructor

const framesAsIs = (_: Error, frames: V8Frame[]) => frames

/**
 * The stack below `above` (its frame and those above it left out), at most `limit` frames (default:
 * Error.stackTraceLimit): V8's frame objects, or the text where the runtime formats them anyway.
 * Only where `V8Error.captureStackTrace` exists.
 */
export function captureFrames(above: Function, limit?: number): V8Frame[] | string | undefined {
  const prepare = V8Error.prepareStackTrace
  const saved = V8Error.stackTraceLimit
  V8Error.prepareStackTrace = framesAsIs
  if (limit !== undefined) V8Error.stackTraceLimit = limit
  try {
    const holder: { stack?: unknown } = {}
    V8Error.captureStackTrace!(holder, above)
    return holder.stack as V8Frame[] | string | undefined
  } finally {
    V8Error.prepareStackTrace = prepare
    V8Error.stackTraceLimit = saved
  }
}

/**
 * The stack below `above` captured now, its frames built only when the returned function is called
 * (V8 builds a captured stack's frames, and calls prepareStackTrace, when `.stack` is first read):
 * a call site that is never named costs only the capture (a follower's call, settled by another
 * replica's record, measured ~half of an eager capture's CPU, issue 14). Same result as
 * captureFrames; a runtime that formats at capture gives its text.
 */
export function holdFrames(above: Function): () => V8Frame[] | string | undefined {
  const holder: { stack?: unknown } = {}
  V8Error.captureStackTrace!(holder, above)
  return () => {
    const prepare = V8Error.prepareStackTrace
    V8Error.prepareStackTrace = framesAsIs
    try {
      return holder.stack as V8Frame[] | string | undefined
    } finally {
      V8Error.prepareStackTrace = prepare
    }
  }
}
