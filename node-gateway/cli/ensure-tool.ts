/**
 * Find a system tool the project needs (etcd, chromium). If missing: install Debian's package when
 * running as root, otherwise stop with the exact command to run.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { ErrorCodes, RepJSError } from '../../core/errors.js'

export const TOOLS = {
  etcd: { bins: ['etcd', 'etcdctl'], packages: ['etcd-server', 'etcd-client'] },
  chromium: { bins: ['chromium'], packages: ['chromium'] },
} as const
export type ToolName = keyof typeof TOOLS

function has(bin: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0
}

export function ensureTool(name: ToolName, log: (m: string) => void = (m) => process.stderr.write(m + '\n')): void {
  const tool = TOOLS[name]
  if (!tool) throw new RepJSError(ErrorCodes.BAD_ARGUMENT, `unknown tool '${name}'; known: ${Object.keys(TOOLS).join(', ')}`)
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
