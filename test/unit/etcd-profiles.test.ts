import { describe, expect, it } from 'vitest'
import { ErrorCodes, RepJSError } from '../../core/errors.js'
import { PROFILES, PROFILE_NAMES, raftFlags, raftProfile } from '../../node-gateway/etcd/profiles.js'

/** The numbers README's "Raft timing profiles" table documents. */
const DOCUMENTED: Record<string, [heartbeat: number, election: number]> = {
  lan: [100, 1000],
  continental: [150, 1500],
  'us-japan': [400, 4000],
  global: [500, 5000],
}

describe('Raft timing profiles', () => {
  it('each profile gives the documented --heartbeat-interval and --election-timeout', () => {
    expect(PROFILE_NAMES).toEqual(Object.keys(DOCUMENTED))
    for (const [name, [hb, el]] of Object.entries(DOCUMENTED)) {
      expect(raftFlags(raftProfile(name))).toEqual(['--heartbeat-interval', String(hb), '--election-timeout', String(el)])
    }
  })

  it('every profile keeps etcd\'s rules: election timeout 10x the heartbeat (etcd refuses under 5x), at most 50 s', () => {
    for (const p of Object.values(PROFILES)) {
      expect(p.electionMs).toBe(10 * p.heartbeatMs)
      expect(p.electionMs).toBeLessThanOrEqual(50_000)
    }
  })

  it('an unknown profile is REPJS_BAD_ARGUMENT listing the choices', () => {
    let err: unknown
    try {
      raftProfile('mars')
    } catch (e) {
      err = e
    }
    expect(RepJSError.is(err, ErrorCodes.BAD_ARGUMENT)).toBe(true)
    expect((err as Error).message).toContain("unknown --profile 'mars': choose one of lan, continental, us-japan, global")
    // Names of Object.prototype are not profiles either.
    expect(() => raftProfile('toString')).toThrow(/choose one of/)
  })
})
