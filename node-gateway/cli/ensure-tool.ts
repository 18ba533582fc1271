/**
 * Find a system tool RepJS needs (etcd: `repjs start`, `repjs etcd`, `repjs ensure etcd`). If
 * missing: install Debian's package when running as root, otherwise stop with the exact command to
 * run. `ensureInstalled` takes any tool (the tests' Chromium: test/ensure-chromium.mjs).
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { ErrorCodes, RepJSError } from '../../core/errors.js'

/** A system tool: the programs it provides and the Debian packages that install them. */
export interface Tool {
  bins: readonly string[]
  packages: readonly string[]
}

export const TOOLS = {
  etcd: { bins: ['etcd', 'etcdctl'], packages: ['etcd-server', 'etcd-client'] },
} as const satisfies Record<string, Tool>
export type ToolName = keyof typeof TOOLS

function has(bin: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0
}

const stderr = (m: string) => process.stderr.write(m + '\n')

export function ensureTool(name: ToolName, log: (m: string) => void = stderr): void {
  const tool = Object.hasOwn(TOOLS, name) ? TOOLS[name] : undefined
  if (!tool) throw new RepJSError(ErrorCodes.BAD_ARGUMENT, `unknown tool '${name}'; known: ${Object.keys(TOOLS).join(', ')}`)
  ensureInstalled(name, tool, log)
}

/** Make sure `tool`'s programs are on PATH, installing its Debian packages as root. */
export function ensureInstalled(name: string, tool: Tool, log: (m: string) => void = stderr): void {
  if (tool.bins.every(has)) return
  const pkgs = tool.packages.join(' ')
  if (process.getuid?.() !== 0) {
    throw new RepJSError(ErrorCodes.SETUP, `${tool.bins.join('/')} not found. Install it with:\n  sudo sh -c 'apt-get update && apt-get install -y ${pkgs}'`)
  }
  log(`repjs: ${name} not found; installing Debian's ${pkgs} (apt-get) ...`)
  execFileSync('sh', ['-c', `apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${pkgs}`], { stdio: ['ignore', 'inherit', 'inherit'] })
  if (!tool.bins.every(has)) {
    throw new RepJSError(ErrorCodes.SETUP, `installing ${pkgs} did not provide ${tool.bins.join('/')}; install it by hand: apt-get install -y ${pkgs}`)
  }
}
