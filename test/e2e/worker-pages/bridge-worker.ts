// A Web Worker making calls through runInWorker's bridge (browser/worker-protocol.ts, from
// source), as the Node twin test/fixtures/bridge-worker.mjs does in a worker thread: every even
// call acts as if the worker were descheduled between its request and its Atomics.wait (it spins
// until the answer is written, so the wait returns at once). Each answer is posted as it comes.
import { Bridge } from '../../../browser/worker-protocol.js'

onmessage = (e: MessageEvent<{ sab: SharedArrayBuffer; calls: number }>) => {
  const bridge = new Bridge(e.data.sab)
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
      bridge.writeRequest(0, 0, call, 0)
      postMessage({ value: bridge.awaitResponse().value })
    }
    postMessage({ done: true })
  } catch (err) {
    postMessage({ error: { code: (err as { code?: string }).code, message: (err as Error).message } })
  }
}
