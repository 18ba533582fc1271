// Dev server for the browser demo (demo/). COOP/COEP make the page crossOriginIsolated, which the
// browser worker runner needs for SharedArrayBuffer + Atomics.wait.
import { defineConfig } from 'vite'

const isolation = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
}

export default defineConfig({
  root: 'demo',
  server: { headers: isolation, host: '127.0.0.1' },
  preview: { headers: isolation, host: '127.0.0.1' },
})
