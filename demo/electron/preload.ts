/**
 * Sandboxed preload: exposes only read-only facts about the shell (so the page can name this
 * replica "electron-…"), no Node APIs, no IPC.
 */
import { contextBridge } from 'electron'

contextBridge.exposeInMainWorld('repjsElectron', Object.freeze({
  shell: 'electron',
  versions: Object.freeze({ electron: process.versions.electron, chrome: process.versions.chrome }),
}))
