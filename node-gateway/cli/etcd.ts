/**
 * `repjs etcd --members N [--profile P] [--data DIR] [--port 2379]`: a local multi-member etcd for
 * development. Prints the endpoints and the flags in use on stdout; Ctrl-C / SIGTERM stops every
 * member (SIGTERM by PID, SIGKILL after 5 s) and exits.
 */
import { resolve } from 'node:path'
import { stopGracefully } from '../etcd/local-etcd.js'
import { parse } from './args.js'
import { ensureTool } from './ensure-tool.js'
import { memberCount, portNumber, startLocalCluster } from './local-cluster.js'

export async function etcdCommand(argv: string[]): Promise<void> {
  const { values } = parse(argv, {
    members: { type: 'string', default: '1' }, profile: { type: 'string' }, data: { type: 'string' }, port: { type: 'string', default: '2379' },
  })
  const members = memberCount(values.members)
  const port = portNumber(values.port, 'port')!
  ensureTool('etcd')
  const out = (line: string) => process.stdout.write(line + '\n')
  const cluster = await startLocalCluster({
    members, port, profile: values.profile === undefined ? undefined : String(values.profile),
    dataDir: values.data === undefined ? undefined : resolve(String(values.data)), print: out,
  })
  out(`Ctrl-C stops it. Use it with: REPJS_ETCD=${cluster.endpoints.join(',')}`)
  let stopping = false
  const shutdown = async (signal: string) => {
    if (stopping) return
    stopping = true
    process.stderr.write(`${signal}: stopping ${cluster.members.length} etcd member(s) ...\n`)
    await stopGracefully(cluster.members)
    await cluster.stop()
    process.stderr.write('Stopped.\n')
    process.exit(0)
  }
  process.once('SIGINT', () => void shutdown('SIGINT'))
  process.once('SIGTERM', () => void shutdown('SIGTERM'))
}
