/** Spawn replica processes of a fixture program (test/fixtures/) and collect their output. */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { track, type Proc } from './run-script.js'

export const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url))

export type ReplicaProc = Proc

export function startReplica(script: string, env: Record<string, string>, args: string[] = [], stdin: 'ignore' | 'pipe' = 'ignore'): ReplicaProc {
  const proc = spawn(process.execPath, [fixture(script), ...args], { env: { ...process.env, ...env }, stdio: [stdin, 'pipe', 'pipe'] })
  return track(proc)
}

/** Wait for exit and fail loudly with the replica's stderr if it did not exit 0. */
export async function finished(r: ReplicaProc): Promise<string> {
  const code = await r.exited
  if (code !== 0) throw new Error(`replica exited with ${code}; stderr:\n${r.stderr}`)
  return r.stdout
}
