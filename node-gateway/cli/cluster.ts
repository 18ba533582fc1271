/**
 * `repjs cluster list|add-member|remove-member --etcd URL[,URL]`: etcd's member API against a
 * running cluster (members.ts).
 *   list                 id, name, peer and client URLs, leader, database size of every member
 *   add-member --name N --peer-url U [--client-url U] [--data DIR] [--profile P] [--start]
 *                        adds the member and prints the etcd command line that starts it
 *                        (`--initial-cluster-state existing`, the `--initial-cluster` etcd returned);
 *                        with --start (a local dev cluster) also starts it here, in the foreground
 *                        until Ctrl-C / SIGTERM (stopped by PID; it stays a member)
 *   remove-member NAME|ID|PEER-URL   (a member added but not started has no name yet)
 */
import { resolve } from 'node:path'
import { ErrorCodes, RepJSError } from '../../core/errors.js'
import { freePort, localMember, stopGracefully, waitHealthy } from '../etcd/local-etcd.js'
import { addMember, listMembers, memberCommand, removeMember, untilReady, type MemberInfo } from '../etcd/members.js'
import { AUTO_COMPACTION, compactionFlags, raftFlags, raftProfile } from '../etcd/profiles.js'
import { parse } from './args.js'
import { oneShot } from './unreachable.js'
import { ensureTool } from './ensure-tool.js'

const out = (line: string) => process.stdout.write(line + '\n')
const waiting = () => process.stderr.write('etcd is not ready for a membership change yet (a member started under 5 s ago, or the change would cost the quorum); retrying for up to 20 s ...\n')
const endpointsOf = (v: unknown) => String(v).split(',').map((s) => s.trim()).filter(Boolean)

export async function clusterCommand(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv
  const { values, positionals } = parse(rest, {
    etcd: { type: 'string', default: process.env.REPJS_ETCD ?? 'http://127.0.0.1:2379' },
    json: { type: 'boolean', default: false },
    name: { type: 'string' }, 'peer-url': { type: 'string' }, 'client-url': { type: 'string' },
    data: { type: 'string' }, profile: { type: 'string' }, start: { type: 'boolean', default: false },
  })
  const etcd = endpointsOf(values.etcd)
  switch (sub) {
    case 'list':
      return printList(await oneShot(etcd, () => listMembers(etcd)), Boolean(values.json))
    case 'add-member':
      return add(etcd, values as Record<string, string | boolean | undefined>)
    case 'remove-member': {
      if (positionals.length !== 1) throw new RepJSError(ErrorCodes.BAD_ARGUMENT, 'repjs cluster remove-member needs one member name, id or peer URL: repjs cluster remove-member --etcd URL m2')
      const m = await untilReady(() => removeMember(etcd, positionals[0]!), waiting)
      out(`Removed member ${m.name || '(not started)'} (${BigInt(m.ID).toString(16)}). Stop its etcd process; its data dir cannot be used again.`)
      return
    }
    default:
      throw new RepJSError(ErrorCodes.BAD_ARGUMENT, `repjs cluster needs list, add-member or remove-member, got '${sub ?? ''}'`)
  }
}

function printList(members: MemberInfo[], json: boolean): void {
  if (json) {
    for (const m of members) out(JSON.stringify(m))
    return
  }
  const rows = [['ID', 'NAME', 'PEER URLS', 'CLIENT URLS', 'LEADER', 'DB SIZE']]
  for (const m of members) {
    const size = m.dbSize === null ? '-' : `${(m.dbSize / 1024).toFixed(0)} KiB`
    rows.push([m.id, m.name || '(not started)', m.peerURLs.join(','), m.clientURLs.join(',') || '-', m.leader ? 'leader' : m.isLearner ? 'learner' : '', size])
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
  for (const r of rows) out(r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd())
}

async function add(etcd: string[], v: Record<string, string | boolean | undefined>): Promise<void> {
  const start = Boolean(v.start)
  if (!start && (!v.name || !v['peer-url'] || !v['client-url'])) {
    throw new RepJSError(ErrorCodes.BAD_ARGUMENT, 'repjs cluster add-member needs --name N --peer-url http://HOST:2380 --client-url http://HOST:2379 (or --start for a local dev member on free ports)')
  }
  const timing = v.profile === undefined ? [] : raftFlags(raftProfile(String(v.profile)))
  const name = String(v.name ?? `m-${Date.now().toString(36)}`)
  const peerURL = String(v['peer-url'] ?? `http://127.0.0.1:${await freePort()}`)
  const clientURL = String(v['client-url'] ?? `http://127.0.0.1:${await freePort()}`)
  const dataDir = resolve(String(v.data ?? `${name}.etcd`))
  if (start) ensureTool('etcd')
  const added = await untilReady(() => addMember(etcd, name, peerURL), waiting)
  const command = memberCommand({ name, peerURL, clientURL, dataDir, initialCluster: added.initialCluster, flags: [...timing, ...compactionFlags(AUTO_COMPACTION)] })
  out(`Added member ${name} (${added.id}). Start it with:`)
  out(command.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' '))
  if (!start) {
    out('Until it runs, the cluster counts it in its quorum: start it now.')
    return
  }
  const member = localMember({ name, client: clientURL, peer: peerURL, dataDir, args: command.slice(1), onLog: (l) => process.stderr.write(l) })
  await member.start()
  await waitHealthy(clientURL, 30_000).catch((err: unknown) => {
    throw new RepJSError(ErrorCodes.SETUP, `member ${name} did not become healthy: ${(err as Error).message}; it is still in the cluster: remove it with repjs cluster remove-member ${name}`)
  })
  out(`Member ${name} runs: client URL ${clientURL}, data in ${dataDir}. Ctrl-C stops it (it stays a member).`)
  let stopping = false
  const shutdown = async () => {
    if (stopping) return
    stopping = true
    await stopGracefully([member])
    process.exit(0)
  }
  process.once('SIGINT', () => void shutdown())
  process.once('SIGTERM', () => void shutdown())
}
