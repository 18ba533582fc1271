// The e2e test page: joins the run given in the query (?gateway=&run=&name=&cache=0) with the
// browser runtime, imported from source, shows it in <repjs-prompt>, and exposes `window.e2e` for
// the test to drive. Without ?run it only exposes `window.e2eConnect`.
import { createStore } from 'idb-keyval'
import { connect, idbCache, type InputLine, type Replica } from '../../../browser/index.js'
import '../../../browser/prompt-element.js'
import { workload } from './workload.js'

declare global {
  interface Window {
    e2e?: Harness
    e2eConnect: typeof connect
    e2eCache: { idbCache: typeof idbCache; createStore: typeof createStore }
    e2eError?: string
  }
}

export interface Harness {
  rep: Replica
  lines: InputLine[]
  /** Every status state this tab went through since it connected. */
  states: string[]
  connectMs: number
  workload(count: number, from?: number): Promise<{ values: number[]; ms: number }>
  readInput(n: number): Promise<void>
}

window.e2eConnect = connect
window.e2eCache = { idbCache, createStore }
const q = new URLSearchParams(location.search)
const run = q.get('run')
if (run) {
  const el = document.querySelector('repjs-prompt')!
  const t0 = performance.now()
  try {
    const rep = await connect({ gateway: q.get('gateway')!, run, program: 'repjs-e2e', name: q.get('name') ?? undefined, cache: q.get('cache') !== '0' })
    const connectMs = performance.now() - t0
    el.replica = rep
    const lines: InputLine[] = []
    rep.on('input', (l) => lines.push(l))
    const states = [rep.status.state]
    rep.on('status', (s) => states.push(s.state))
    let reading = Promise.resolve()
    window.e2e = {
      rep,
      lines,
      states,
      connectMs,
      async workload(count, from = 0) {
        const t = performance.now()
        const values = await workload(rep, count, from)
        return { values, ms: performance.now() - t }
      },
      readInput(n) {
        reading = reading.then(async () => {
          for (let i = 0; i < n; i++) if ((await rep.inputLine()).line === null) break
        })
        return reading
      },
    }
  } catch (err) {
    window.e2eError = String((err as Error)?.stack ?? err)
  }
}
