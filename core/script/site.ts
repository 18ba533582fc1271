/**
 * The one call-site reader of a plain script's calls (both workers: `repjs run`'s thread and
 * `runInWorker`'s Web Worker): the first stack frame that is neither RepJS's own (the patches, the
 * bridge, the runtime's glue: `isOwn`) nor the runtime's internals (`node:...`), named `file:line`
 * relative to the script's folder (`base`, a path or a URL). A tab and a `repjs run` process running
 * the same file name the same sites, so the two can be compared.
 *
 * Where V8's frame objects are available (Node, Chrome, Edge, Electron) and the runtime does not
 * source-map the stack's text (Node's --enable-source-maps maps the text, not the frames), the site
 * is read from them: first the one frame right below the patched function the script called, then
 * up to 8, then 40 frames (calls made from inside readline, streams, ...). Formatting a whole stack
 * as text was most of the bridge's own cost per call. Elsewhere the stack's text is parsed.
 */
import { captureFrames, V8Error, type V8Frame } from '../v8-frames.js'

export interface SiteReaderOptions {
  /** Whether a frame's file (a path or a URL) is RepJS's own: skipped. */
  isOwn(file: string): boolean
  /** The script's folder (a path or a URL, with its trailing '/'): sites in it are named relative to it. */
  base(): string
  /** Whether V8's frame objects may be read instead of the stack's text (false: text only). */
  frames: boolean
}

export interface SiteReader {
  /** The script's call site now; `patched` (the patched function the script called) is looked below first. */
  now(patched?: Function): string
  /**
   * The site in a stack's text. `direct`: only a call made by the script (or a library) itself
   * counts, not one the runtime's internals make on its behalf (readline reading process.env.TERM):
   * those give ''.
   */
  ofStack(stack: string | undefined, direct?: boolean): string
  /** A stack of `depth` frames, as text. */
  stack(depth?: number): string | undefined
  /** The frames of a stack's text (its lines after the first) that are not RepJS's own. */
  scriptFrames(stack: string | undefined): string[]
}

/** A stack line's location: V8 `at fn (LOC)` / `at LOC`, Firefox and Safari `fn@LOC`; LOC = file:line:col. */
const LOCATION = /(?:^|[\s(@])((?:[a-z][\w+.-]*:\/\/?|node:|\/)[^()]*?):(\d+):(\d+)\)?$/

export interface Location {
  file: string
  line: number
  column: number
}

/** The location a stack line names (a path, a file:// or http(s):// URL, or a node: internal), if any. */
export function locate(line: string): Location | undefined {
  const m = LOCATION.exec(line.trimEnd())
  return m ? { file: m[1]!, line: Number(m[2]), column: Number(m[3]) } : undefined
}

const isRuntime = (file: string) => file.startsWith('node:')
/** A file a script can be in: a path or a URL (not a runtime internal, not eval code). */
const isScriptFile = (file: string) => !isRuntime(file) && /^(?:[a-z][\w+.-]*:|\/)/.test(file)

/** `file:line` of a site, relative to `base` when it is in it. */
export function siteName(file: string, line: number | null, base: string): string {
  let f = file
  if (f.startsWith('file://')) f = decodeURIComponent(f.slice(7))
  const b = base.startsWith('file://') ? decodeURIComponent(base.slice(7)) : base
  if (/^[a-z][\w+.-]*:/.test(f)) {
    // a URL (http:, blob:): its query is not part of the file
    const plain = f.split('?')[0]!
    if (b && plain.startsWith(b)) f = decodeURIComponent(plain.slice(b.length))
  } else if (b && f.startsWith(b)) f = f.slice(b.length)
  return `${f}:${line ?? 0}`
}


export function createSiteReader(o: SiteReaderOptions): SiteReader {
  const useFrames = o.frames && typeof V8Error.captureStackTrace === 'function'

  /** `depth` frame objects below `above` (or, where the runtime formats them anyway, the text). */
  /**
   * Per frame file: the site names of its lines, or null for a file that is never a site (RepJS's
   * own, the runtime's). A script calls from few places, so a call reads its site from two frame
   * getters and two lookups (the file tests and the name were about a third of the frame path's CPU).
   * Emptied when the script's folder changes.
   */
  let files = new Map<string, Map<number | null, string> | null>()
  let filesBase: string | undefined
  const first = (frames: V8Frame[] | string | undefined): string => {
    if (typeof frames === 'string') return reader.ofStack(frames)
    if (!Array.isArray(frames)) return ''
    const base = o.base()
    if (base !== filesBase) {
      files = new Map()
      filesBase = base
    }
    for (const f of frames) {
      const file = f.getScriptNameOrSourceURL?.() || f.getFileName()
      if (!file) continue
      let lines = files.get(file)
      if (lines === undefined) files.set(file, (lines = isScriptFile(file) && !o.isOwn(file) ? new Map() : null))
      if (lines === null) continue
      const line = f.getLineNumber()
      let site = lines.get(line)
      if (site === undefined) lines.set(line, (site = siteName(file, line, base)))
      return site
    }
    return ''
  }

  const reader: SiteReader = {
    now(patched) {
      if (!useFrames) return reader.ofStack(reader.stack(8)) || reader.ofStack(reader.stack(40))
      return (patched && first(captureFrames(patched, 1))) || first(captureFrames(reader.now, 8)) || first(captureFrames(reader.now, 40))
    },
    ofStack(stack, direct = false) {
      for (const raw of (stack ?? '').split('\n').slice(1)) {
        const at = locate(raw)
        if (!at) continue
        if (isRuntime(at.file)) {
          if (direct) return ''
          continue
        }
        if (o.isOwn(at.file)) continue
        return siteName(at.file, at.line, o.base())
      }
      return ''
    },
    stack(depth = 40) {
      const limit = V8Error.stackTraceLimit
      V8Error.stackTraceLimit = depth
      const stack = new Error().stack
      V8Error.stackTraceLimit = limit
      return stack
    },
    scriptFrames(stack) {
      return (stack ?? '').split('\n').slice(1).filter((l) => {
        const at = locate(l)
        return !at || !o.isOwn(at.file)
      })
    },
  }
  return reader
}

const here = import.meta.url.split('?')[0]!
const layerDir = here.slice(0, here.lastIndexOf('/') + 1)
/** Bundled into one file with its caller (a worker bundle): that file is the layer. */
const bundled = !layerDir.endsWith('/core/script/')
/** The layer's folder as a file path too (frames may name files by path), decoded once. */
const layerPath = layerDir.startsWith('file://') ? decodeURIComponent(layerDir.slice(7)) : undefined

/** Whether a frame's file is this shared layer's (core/script/), as a URL or a path. */
export function inScriptLayer(file: string): boolean {
  const f = file.split('?')[0]!
  if (bundled) return f === here
  return f.startsWith(layerDir) || (layerPath !== undefined && f.startsWith(layerPath))
}
