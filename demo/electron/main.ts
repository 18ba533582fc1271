/**
 * The RepJS flight display in an Electron window: a thin shell around the same page the browser
 * tabs load (served by `npm start`), so the renderer is one more replica joining through the
 * gateway. Start `npm start` in the project root first, then here: `npm start -- <Demo URL>`
 * (or set REPJS_DEMO_URL).
 */
import { app, BrowserWindow, shell } from 'electron'
import { join } from 'node:path'

const demoUrl = new URL(process.env.REPJS_DEMO_URL ?? process.argv.slice(1).find((a) => /^https?:\/\//.test(a)) ?? 'http://127.0.0.1:5173/')

function createWindow(): void {
  const win = new BrowserWindow({
    width: 1280,
    height: 820,
    backgroundColor: '#0b1118',
    title: 'RepJS flight display',
    webPreferences: {
      preload: join(__dirname, 'preload.js'),
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      webSecurity: true,
    },
  })
  // Stay on the demo's origin: other links open in the system browser, never in this window.
  win.webContents.setWindowOpenHandler(({ url }) => {
    if (/^https?:\/\//.test(url)) void shell.openExternal(url)
    return { action: 'deny' }
  })
  win.webContents.on('will-navigate', (event, target) => {
    if (new URL(target).origin !== demoUrl.origin) event.preventDefault()
  })
  void win.loadURL(demoUrl.href)
}

app.whenReady().then(() => {
  createWindow()
  app.on('activate', () => {
    if (BrowserWindow.getAllWindows().length === 0) createWindow()
  })
}, (err: unknown) => {
  console.error('repjs demo: Electron failed to start', err)
  app.exit(1)
})

app.on('window-all-closed', () => app.quit())
