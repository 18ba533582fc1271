#!/usr/bin/env node
/** The `repjs` command. */
import { readFileSync } from 'node:fs'
import { RepJSError } from '../../core/errors.js'
import { parse } from './args.js'
import { ensureTool, type ToolName } from './ensure-tool.js'
import { inspectCommand } from './inspect.js'
import { startCommand } from './start.js'
import { runGateway, printToken } from './gateway.js'
import { runCommand } from './run.js'
import { runsCommand } from './runs.js'
import { etcdCommand } from './etcd.js'
import { clusterCommand } from './cluster.js'
import { replayCommand } from './replay.js'

const HELP = `repjs — replicated JavaScript over etcd

  repjs start [--port 2379] [--data .repjs/etcd] [--gateway-port 7420] [--members 3 [--profile P]] [--run R]
      start a local etcd and a gateway (127.0.0.1, no tokens); --members 3 runs a 3-member etcd. In a checkout
      of the repository (what npm start runs) also the demo's web server [--web-port 5173], or with --sample
      the three-process sample instead
  repjs etcd [--members 3] [--profile lan|continental|us-japan|global] [--data DIR] [--port 2379]
      a local multi-member etcd for development; prints its endpoints and Raft flags; Ctrl-C stops it
  repjs cluster list|add-member|remove-member [--etcd URL[,URL]]
      etcd membership: list (leader, db size); add-member --name N --peer-url U --client-url U [--start]
      (prints the etcd command that starts it; --start runs it here); remove-member NAME|ID|PEER-URL
  repjs inspect --run R [--etcd URL[,URL]] [--stream main|NAME|'*'] [--from 0] [--limit N] [--follow] [--json]
      print a run's decided log as a table (or JSON lines); --follow goes on printing new slots until Ctrl-C;
      repjs log is the same command
  repjs gateway [--etcd URL[,URL]] [--port 7420] [--host 127.0.0.1] [--origin URL[,URL] | --origin '*'] [--cert F --key F]
                [--max-connections 10000] [--max-pending-per-ip 256]
      run a gateway; set REPJS_GATEWAY_SECRET (or --secret) to require run tokens; without a secret only
      pages on 127.0.0.1/localhost/[::1] (and non-browser clients) may connect unless --origin says more
  repjs run --run R [--etcd URL | --gateway URL --token T] [--random call|batch|seed] [--median N]
            [--local-fs] [--once mod.fn]... [--quiet-replay] [--eof-ends-input] [--verbose] [--new] [--run-ttl 1h]
            [--tz Europe/Paris] [--locale fr-FR] script.js [args]
      run an unmodified Node script as one replica of run R; --new creates again a run that was deleted or
      expired (REPJS_RUN_GONE otherwise); --run-ttl 1h: a run this replica creates expires after 1 h idle;
      --tz / --locale: the time zone and locale of the script's local time if this replica creates the run
      (default: this machine's); later replicas adopt the run's (REPJS_ZONE_MISMATCH if they ask for another)
  repjs run --audit [--local-fs] [--once mod.fn]... script.js [args]
      run the script once locally and list its non-deterministic calls (agreed / run once / NOT replicated)
  repjs runs [--etcd URL[,URL]] [--json]
      list runs: program, replicas present, slots per stream, size, created, last activity, TTL, gone
  repjs runs rm R [--etcd URL[,URL]] [--force]
      delete every key of run R, leaving its tombstone (refused while replicas are present, unless --force)
  repjs replay --run R [--etcd URL[,URL]] [--random M] [--median N] [--local-fs] [--once mod.fn]... [--check-every N] script.js [args]
      re-run a script against a recorded run without proposing anything and without the program-id check;
      reports the first divergence (both call sites; exit 3) or that the whole log replayed (exit 0)
  repjs token --run R [--ttl 86400] [--replica ID]
      print a token for run R, signed with REPJS_GATEWAY_SECRET (or --secret); with --replica,
      it connects only as replica ID (one vote per slot for its holder)
  repjs ensure etcd
      make sure etcd is installed (installs Debian's etcd-server and etcd-client as root, else prints the command)
  repjs version | help
`

async function main(argv: string[]): Promise<void> {
  const [cmd, ...rest] = argv
  switch (cmd) {
    case 'start':
      return startCommand(rest)
    case 'inspect': case 'log':
      return inspectCommand(rest)
    case 'gateway': {
      const { values } = parse(rest, {
        etcd: { type: 'string', default: process.env.REPJS_ETCD ?? 'http://127.0.0.1:2379' }, port: { type: 'string', default: '7420' },
        host: { type: 'string' }, secret: { type: 'string' }, origin: { type: 'string' }, cert: { type: 'string' }, key: { type: 'string' },
        'max-connections': { type: 'string' }, 'max-pending-per-ip': { type: 'string' },
      })
      return runGateway(values as Record<string, string | undefined>)
    }
    case 'run':
      return runCommand(rest)
    case 'runs':
      return runsCommand(rest)
    case 'etcd':
      return etcdCommand(rest)
    case 'cluster':
      return clusterCommand(rest)
    case 'replay':
      return replayCommand(rest)
    case 'token': {
      const { values } = parse(rest, { run: { type: 'string' }, ttl: { type: 'string', default: '86400' }, secret: { type: 'string' }, replica: { type: 'string' } })
      return printToken(values as Record<string, string | undefined>)
    }
    case 'ensure':
      for (const t of rest) ensureTool(t as ToolName)
      return
    case 'version': {
      const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }
      process.stdout.write(pkg.version + '\n')
      return
    }
    case undefined: case 'help': case '--help': case '-h':
      process.stdout.write(HELP)
      return
    default:
      throw new Error(`unknown command '${cmd}'\n\n${HELP}`)
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  const code = RepJSError.is(err) ? ` [${err.code}]` : ''
  process.stderr.write(`repjs: ${err instanceof Error ? err.message : String(err)}${code}\n`)
  process.exit(1)
})
