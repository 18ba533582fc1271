/**
 * Per-run tokens: base64url(JSON {run, exp, replica?}) "." base64url(HMAC-SHA256(secret, payload)).
 * A token for run A never opens run B; a token with `replica` opens it only as that replica id
 * (checked at HELLO), so its holder casts one vote per slot. Verification is constant-time on the
 * signature.
 */
import { createHmac, timingSafeEqual } from 'node:crypto'
import { ErrorCodes, RepJSError } from '../../core/errors.js'

export interface TokenClaims {
  run: string
  /** Expiry, seconds since the epoch. */
  exp: number
  /** If set, the only replica id this token may connect as. */
  replica?: string
}

const sign = (secret: string, payload: string) => createHmac('sha256', secret).update(payload).digest('base64url')

export function createToken(secret: string, run: string, ttlSeconds = 24 * 3600, now = Date.now(), opts: { replica?: string } = {}): string {
  if (!secret) throw new RepJSError(ErrorCodes.BAD_ARGUMENT, 'a token needs the gateway secret (REPJS_GATEWAY_SECRET or --secret)')
  const claims: TokenClaims = { run, exp: Math.floor(now / 1000) + ttlSeconds }
  if (opts.replica !== undefined) claims.replica = opts.replica
  const payload = Buffer.from(JSON.stringify(claims)).toString('base64url')
  return `${payload}.${sign(secret, payload)}`
}

export type TokenFailure = 'missing' | 'malformed' | 'forged' | 'expired' | 'wrong-run' | 'wrong-replica'

export class TokenError extends RepJSError {
  constructor(readonly reason: TokenFailure, message: string) {
    super(ErrorCodes.UNAUTHORIZED, message, { details: { reason } })
  }
}

export function verifyToken(secret: string, token: string, run: string, now = Date.now()): TokenClaims {
  if (!token) throw new TokenError('missing', `run '${run}' needs a token: ask the operator for one (repjs token --run ${run})`)
  const [payload, sig, extra] = token.split('.')
  if (!payload || !sig || extra !== undefined) throw new TokenError('malformed', 'the token is malformed')
  const want = Buffer.from(sign(secret, payload))
  const got = Buffer.from(sig)
  if (want.length !== got.length || !timingSafeEqual(want, got)) throw new TokenError('forged', 'the token signature is not valid for this gateway')
  let claims: TokenClaims
  try {
    claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as TokenClaims
  } catch {
    throw new TokenError('malformed', 'the token payload is not JSON')
  }
  if (typeof claims !== 'object' || claims === null || typeof claims.run !== 'string' || typeof claims.exp !== 'number' || (claims.replica !== undefined && typeof claims.replica !== 'string')) {
    throw new TokenError('malformed', 'the token lacks run or exp')
  }
  if (claims.exp * 1000 <= now) throw new TokenError('expired', `the token expired at ${new Date(claims.exp * 1000).toISOString()}: get a new one`)
  if (claims.run !== run) throw new TokenError('wrong-run', `the token is for run '${claims.run}', not '${run}'`)
  return claims
}

/** A token pinned to a replica id opens the run only as that replica. */
export function checkTokenReplica(claims: TokenClaims, replica: string): void {
  if (claims.replica !== undefined && claims.replica !== replica) {
    throw new TokenError('wrong-replica', `the token is for replica '${claims.replica}', not '${replica}': connect with replicaId '${claims.replica}' or get a token for this replica`)
  }
}
