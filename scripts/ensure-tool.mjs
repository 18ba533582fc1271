// Finds a system tool the project needs (etcd, chromium); if missing, installs Debian's package
// when running as root, otherwise stops with the exact command to run. Nothing is assumed to be
// installed by hand.
import { execFileSync, spawnSync } from 'node:child_process'

export const TOOLS = {
  etcd: { bins: ['etcd', 'etcdctl'], packages: ['etcd-server', 'etcd-client'] },
  chromium: { bins: ['chromium'], packages: ['chromium'] },
}

function has(bin) {
  return spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0
}

export function ensureTool(name, log = (m) => process.stderr.write(m + '\n')) {
  const tool = TOOLS[name]
  if (tool.bins.every(has)) return
  const cmd = `apt-get update && apt-get install -y ${tool.packages.join(' ')}`
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    log(`repjs: ${tool.bins.join('/')} not found. Install it first:\n  sudo sh -c '${cmd}'`)
    process.exit(1)
  }
  log(`repjs: ${name} not found; installing Debian's ${tool.packages.join(' ')} ...`)
  execFileSync('sh', ['-c', `apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${tool.packages.join(' ')}`], { stdio: 'inherit' })
  if (!tool.bins.every(has)) {
    log(`repjs: installing ${tool.packages.join(' ')} did not provide ${tool.bins.join('/')}; install it by hand: ${cmd}`)
    process.exit(1)
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const name of process.argv.slice(2)) ensureTool(name)
}
