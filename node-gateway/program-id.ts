/** The default program id: a hash of the entry script's contents (not its path or arguments). */
import { readFileSync } from 'node:fs'
import { fingerprint } from '../core/hash.js'

export function defaultProgramId(entry = process.argv[1]): string {
  if (!entry) return 'repl'
  try {
    return `script:${fingerprint(readFileSync(entry))}`
  } catch {
    return 'repl'
  }
}
