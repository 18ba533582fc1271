/**
 * The script's thread under `runInWorker()`: a module Web Worker that installs the patches both
 * runtimes share (core/script/patches.ts: Date, performance.now, Math.random, crypto.randomUUID /
 * getRandomValues, a global prompt() returning the next agreed input line, null at the end of
 * input), then starts the unmodified script: a classic script is evaluated in the worker's global
 * scope (indirect eval with a sourceURL, so it behaves as a classic script: sloppy mode, top-level
 * declarations are globals, stack frames name its URL), a module script is imported. Agreed calls
 * block in Atomics.wait while the page agrees them with the other replicas (core/script/bridge.ts).
 *   the script's console: browser/worker-console.ts · when it has ended: browser/worker-lifecycle.ts
 *   · this worker's scope and own files: browser/worker-scope.ts · page ⇄ worker messages:
 *   browser/worker-protocol.ts
 */
import { ScriptBridge } from '../core/script/bridge.js'
import { EXIT_STOPPED, type ScriptCall } from '../core/script/calls.js'
import { Patcher } from '../core/script/patcher.js'
import { installAgreedGlobals } from '../core/script/patches.js'
import { createScriptCall } from '../core/script/script-call.js'
import { createSiteReader } from '../core/script/site.js'
import { installConsole } from './worker-console.js'
import { exit, hasExited, installLifecycle, scriptRan, uncaught } from './worker-lifecycle.js'
import { errorData, type InitMessage } from './worker-protocol.js'
import { isOwn, post, scope } from './worker-scope.js'
import { installZone } from '../core/script/zone.js'

/** Call sites `file:line` relative to the script's folder, as `repjs run` names them. */
let siteBase = ''
const sites = createSiteReader({ isOwn, base: () => siteBase, frames: true })

function bridgeCall(init: InitMessage): ScriptCall {
  const bridge = new ScriptBridge(init.sab, init.notify === 'message' ? { requested: () => post({ t: 'call' }) } : {})
  const viaBridge = createScriptCall({
    bridge,
    site: sites,
    stopped(err) {
      // Report exit 70 and block until the page terminates this worker.
      exit(EXIT_STOPPED, errorData(err))
      for (;;) Atomics.wait(bridge.ctl, 0, Atomics.load(bridge.ctl, 0))
    },
  })
  return (op, name, args, patched) => {
    if (hasExited()) throw new Error('repjs: the script has ended')
    return viaBridge(op, name, args, patched)
  }
}

/**
 * import(url) of a module script, hidden from bundlers: a dev server would otherwise rewrite a
 * dynamic import and load its own client (with its timers and console output) into the worker.
 */
const importModule = new Function('url', 'return import(url)') as (url: string) => Promise<unknown>

async function start(init: InitMessage): Promise<void> {
  siteBase = new URL('./', init.url).href
  installConsole()
  if (init.zone) installZone(init.zone) // before the agreed Date, which wraps the zoned one
  installAgreedGlobals(new Patcher(), bridgeCall(init), { write: (text) => post({ t: 'out', stream: 'stdout', text }) })
  installLifecycle()
  try {
    if (init.type === 'module') await importModule(init.url)
    else (0, eval)(`${init.source ?? ''}\n//# sourceURL=${init.url}`)
  } catch (err) {
    uncaught(err)
    return
  }
  scriptRan()
}

const onInit = (e: MessageEvent<InitMessage>) => {
  if (e.data?.t !== 'init') return
  scope.removeEventListener('message', onInit)
  void start(e.data)
}
scope.addEventListener('message', onInit)
