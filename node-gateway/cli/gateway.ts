/** `repjs gateway` and `repjs token`. */
import { readFileSync } from 'node:fs'
import { ErrorCodes, RepJSError } from '../../core/errors.js'
import { startGateway } from '../gateway/server.js'
import { createToken } from '../gateway/token.js'

const list = (v: string | undefined) => (v ? v.split(',').map((s) => s.trim()).filter(Boolean) : undefined)

/** A positive integer flag, or undefined when absent (the gateway's default then applies). */
function count(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined
  const n = Number(v)
  if (!Number.isSafeInteger(n) || n < 1) throw new RepJSError(ErrorCodes.BAD_ARGUMENT, `--${flag} needs a positive integer, got '${v}'`)
  return n
}

export async function runGateway(v: Record<string, string | undefined>): Promise<void> {
  if (Boolean(v.cert) !== Boolean(v.key)) throw new RepJSError(ErrorCodes.BAD_ARGUMENT, 'wss needs both --cert and --key')
  const gw = await startGateway({
    etcd: list(v.etcd)!,
    port: Number(v.port),
    host: v.host,
    secret: v.secret ?? process.env.REPJS_GATEWAY_SECRET,
    origins: list(v.origin),
    limits: { maxConnections: count(v['max-connections'], 'max-connections'), maxPendingPerIp: count(v['max-pending-per-ip'], 'max-pending-per-ip') },
    tls: v.cert && v.key ? { cert: readFileSync(v.cert), key: readFileSync(v.key) } : undefined,
  })
  process.stdout.write(`Gateway: ${gw.url}\n`)
  const stop = () => {
    const hard = setTimeout(() => process.exit(1), 5000)
    hard.unref()
    void gw.close().then(() => process.exit(0))
  }
  process.once('SIGTERM', stop)
  process.once('SIGINT', stop)
}

export function printToken(v: Record<string, string | undefined>): void {
  if (!v.run) throw new RepJSError(ErrorCodes.BAD_ARGUMENT, 'repjs token needs --run R')
  const secret = v.secret ?? process.env.REPJS_GATEWAY_SECRET
  if (!secret) throw new RepJSError(ErrorCodes.BAD_ARGUMENT, 'set REPJS_GATEWAY_SECRET (the same secret the gateway uses) or pass --secret')
  process.stdout.write(createToken(secret, v.run, Number(v.ttl), Date.now(), { replica: v.replica }) + '\n')
}
