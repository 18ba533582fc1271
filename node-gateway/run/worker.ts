/**
 * The script's thread under `repjs run`: installs the patches, then loads the unmodified script
 * (CommonJS or ESM) with its own argv. Non-deterministic calls block on the bridge while the main
 * thread agrees them with the other replicas.
 */
import { pathToFileURL } from 'node:url'
import { parentPort, workerData } from 'node:worker_threads'
import { BridgeBuffer, IDLE, REQUEST } from './bridge.js'
import { installPatches } from './patches.js'

interface WorkerData {
  sab: SharedArrayBuffer
  script: string
  argv: string[]
  once: string[]
  siteBase: string
}

const data = workerData as WorkerData
const bridge = new BridgeBuffer(data.sab)
const port = parentPort!

/** The first stack frame outside RepJS, relative to the script's folder. */
function siteOf(stack: string | undefined): string {
  for (const line of (stack ?? '').split('\n').slice(1)) {
    const m = /(?:file:\/\/)?(\/[^\s()]+):(\d+):(\d+)/.exec(line)
    if (!m || m[1]!.includes('/node-gateway/run/') || m[1]!.startsWith('node:')) continue
    const file = m[1]!.startsWith(data.siteBase) ? m[1]!.slice(data.siteBase.length) : m[1]!
    return `${file}:${m[2]}`
  }
  return ''
}

function call(op: string, name: string, args: unknown[]): unknown {
  bridge.write([op, name, args, siteOf(new Error().stack)], REQUEST)
  port.postMessage('call')
  Atomics.wait(bridge.ctl, 0, REQUEST)
  const [ok, value] = bridge.read() as [boolean, unknown]
  Atomics.store(bridge.ctl, 0, IDLE)
  if (!ok) throw value
  return value
}

installPatches(call, { once: data.once, onStdinUsed: () => port.postMessage('stdin') })
process.argv = [process.argv[0]!, data.script, ...data.argv]
await import(pathToFileURL(data.script).href)
