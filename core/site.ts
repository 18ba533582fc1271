/**
 * The caller's source position (file:line:col) for the library API's calls, read from a stack
 * trace with the one stack-line reader (core/script/site.ts). Informational only.
 *
 * Where the runtime formats stack text itself, unmapped (V8 with no source maps: plain Node,
 * Chrome), the site is read from V8's frame objects instead of the text: formatting the whole
 * stack as text and parsing it back was about 40 µs of every proposal's CPU (measured, issue 14).
 * The frames give the same file, line and column the text would show (same frames, same filter).
 * Where a stack's text is source-mapped (Node's --enable-source-maps, as the runtime adapter tells:
 * setTextMapped; a prepareStackTrace someone installed, e.g. a test runner's), the text is read as
 * before, so the mapping applies.
 */
import { locate } from './script/site.js'
import { captureFrames, holdFrames, V8Error, type V8Frame } from './v8-frames.js'

const here = import.meta.url
const strip = (f: string) => (f.startsWith('file://') ? f.slice(7) : f)
const root = strip(here.slice(0, here.lastIndexOf('/core/') + 1))
/** RepJS's own folders: the built ones and, when they are dist/, the sources their maps name (--enable-source-maps). */
const roots = root.endsWith('/dist/') ? [root, root.slice(0, -'dist/'.length)] : [root]
const ownDirs = roots.flatMap((r) => ['core/', 'node-gateway/', 'browser/'].map((d) => r + d))

const V8 = V8Error
/** Node's own prepareStackTrace (formats as V8 does unless source maps are enabled), as found at load. */
const nodeDefault = V8.prepareStackTrace?.name === 'ErrorPrepareStackTrace' ? V8.prepareStackTrace : undefined
/**
 * Whether the runtime source-maps a stack's text, not its frames (Node's --enable-source-maps):
 * core cannot tell, the runtime adapter says (node-gateway/connect.ts). Default: no.
 */
let textMapped: () => boolean = () => false

/** Set how to tell whether the runtime source-maps stack text (the runtime adapter, once). */
export function setTextMapped(check: () => boolean): void {
  textMapped = check
}

/** Whether V8's frames name the same location as the stack's text (no source mapping applies). */
function framesAsText(): boolean {
  if (typeof V8.captureStackTrace !== 'function') return false
  const prepare = V8.prepareStackTrace
  if (prepare !== undefined && prepare !== nodeDefault) return false
  return !textMapped()
}

/** How sites are read now: from V8's frames or from the stack's text (for tests and diagnostics). */
export function siteReading(): 'frames' | 'text' {
  return framesAsText() ? 'frames' : 'text'
}

/**
 * The stack below `above` (default: from the caller of this function, as a `new Error()` there
 * holds it) as V8 frames, at most `limit` (default: Error.stackTraceLimit).
 */
function frames(above?: Function, limit?: number): V8Frame[] | undefined {
  const got = captureFrames(above ?? frames, limit)
  return Array.isArray(got) ? got : undefined
}

/**
 * Frames read first below the engine's frame that takes the slot (`above`): the API's own few
 * frames and its caller's. Capturing costs per frame; a site found among them is the one the
 * whole stack names (RepJS's frames come first), so the whole stack is read only when it is not.
 */
const FIRST_FRAMES = 6

/**
 * Capture the stack now and return a function that names the site on first use, so replaying from
 * the cache never pays for it. The stack is read as the runtime shows it (see the top of the file).
 * `above`: a RepJS function on the stack now (its frame and those above it are RepJS's own).
 */
export function captureSite(base?: string, above?: Function): () => string {
  let site: string | undefined
  if (framesAsText()) {
    const limit = V8.stackTraceLimit
    const near = above && typeof limit === 'number' && limit > 0 ? siteOfFrames(frames(above, Math.min(FIRST_FRAMES, limit)), base) : ''
    if (near) return () => near
    const held = frames()
    return () => (site ??= siteOfFrames(held, base))
  }
  const holder = new Error()
  return () => (site ??= siteOf(holder.stack, base))
}

/**
 * Like captureSite, for a call that most likely never names its site (a follower's: another
 * replica's record settles it): the stack is captured raw and its frames built only if the site is
 * named (holdFrames). Cheaper than captureSite's reading of the first frames when the site goes
 * unused, dearer when it is named (the whole captured stack is built then). `above`: as for
 * captureSite; the frames above it are not captured, so a user-lowered Error.stackTraceLimit is
 * not spent on RepJS's own frames (the site would come out '').
 */
export function holdSite(base?: string, above?: Function): () => string {
  if (!framesAsText()) return captureSite(base, above)
  let site: string | undefined
  const held = holdFrames(above ?? holdSite)
  return () => (site ??= siteOfHeld(held(), base))
}

/** The site in what holdFrames gave: V8's frames, or the text of a runtime that formats at capture. */
const siteOfHeld = (got: V8Frame[] | string | undefined, base: string | undefined) => (Array.isArray(got) ? siteOfFrames(got, base) : siteOf(got, base))

export function callSite(base?: string): string {
  return framesAsText() ? siteOfFrames(frames(), base) : siteOf(new Error().stack, base)
}

/** The first frame outside RepJS and the runtime's internals (`node:...`), as file:line:col (file relative to `base`). */
export function siteOf(stack: string | undefined, base?: string): string {
  if (!stack) return ''
  for (const raw of stack.split('\n').slice(1)) {
    const site = siteAt(raw, base)
    if (site !== undefined) return site
  }
  return ''
}

/** siteOf for V8's frames: each frame's location read as its stack line's would be. */
export function siteOfFrames(frames: V8Frame[] | undefined, base?: string): string {
  for (const f of frames ?? []) {
    const file = f.getScriptNameOrSourceURL?.() || f.getFileName()
    if (!file) continue
    // RepJS's own frames come first: told by their file alone, without asking V8 for a position.
    const plain = plainFile(file)
    if (plain && internal(strip(file))) continue
    const line = f.getLineNumber()
    const column = f.getColumnNumber()
    if (line === null || column === null) continue
    const site = plain ? siteOfFile(file, line, column, base) : siteAt(`${file}:${line}:${column}`, base)
    if (site !== undefined) return site
  }
  return ''
}

/** A file of RepJS's own or of the runtime's internals (`node:...`): never a call's site. */
const internal = (file: string) => file.startsWith('node:') || ownDirs.some((d) => file.startsWith(d))

/**
 * A frame's file whose location `locate` reads back exactly as it is (an absolute path, a file:
 * or node: URL, no parentheses): its site is named without the stack-line parser.
 */
const plainFile = (f: string) => (f[0] === '/' || f.startsWith('file://') || f.startsWith('node:')) && !f.includes('(') && !f.includes(')')

/** The site a stack line (or a frame's location) names, or undefined when it is RepJS's own, a runtime internal or no location. */
function siteAt(raw: string, base: string | undefined): string | undefined {
  const at = locate(raw)
  return at && siteOfFile(at.file, at.line, at.column, base)
}

/** The site at a location, or undefined when it is RepJS's own or a runtime internal. */
function siteOfFile(path: string, line: number, column: number, base: string | undefined): string | undefined {
  let file = strip(path)
  if (internal(file)) return undefined
  if (base && file.startsWith(strip(base))) file = file.slice(strip(base).length)
  return `${file}:${line}:${column}`
}
