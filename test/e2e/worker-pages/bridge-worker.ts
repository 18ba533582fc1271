// A Web Worker making calls through the plain-script bridge (core/script/bridge.ts, from source),
// as test/fixtures/bridge-worker.mjs does in a Node worker thread: every even
// call acts as if the worker were descheduled between its request and its Atomics.wait (it spins
// until the answer is written, so the wait returns at once). Each answer is posted as it comes.
import { ScriptBridge } from '../../../core/script/bridge.js'

onmessage = (e: MessageEvent<{ sab: SharedArrayBuffer; calls: number }>) => {
  const bridge = new ScriptBridge(e.data.sab)
  let call = 0
  let firstWait = false
  const realWait = Atomics.wait.bind(Atomics)
  Atomics.wait = ((array: Int32Array, index: number, value: number, timeout?: number) => {
    if (firstWait && call % 2 === 0) while (Atomics.load(array, index) === value);
    firstWait = false
    return realWait(array, index, value, timeout)
  }) as typeof Atomics.wait
  try {
    for (call = 0; call < e.data.calls; call++) {
      firstWait = true
      const reply = bridge.call('now', 'echo', [call], 'bridge-worker.ts:1')
      postMessage({ value: reply.ok ? reply.value : reply.error })
    }
    postMessage({ done: true })
  } catch (err) {
    postMessage({ error: { code: (err as { code?: string }).code, message: (err as Error).message } })
  }
}
