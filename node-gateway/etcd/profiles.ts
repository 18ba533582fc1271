/**
 * Raft timing profiles for the etcd clusters RepJS starts: `--profile lan|continental|us-japan|global`
 * sets etcd's `--heartbeat-interval` and `--election-timeout` (ms) for the round-trip time (RTT)
 * between members. etcd's tuning guide: heartbeat about the RTT between members (a leader that
 * misses a few heartbeats is not yet suspected), election timeout about 10x the heartbeat, and at
 * least 5x (etcd refuses less). A shorter election timeout fails over faster after a leader dies;
 * one too close to the RTT makes followers call elections while the leader is alive (lost
 * heartbeats, slow disks), and every election stalls writes for a moment. Each profile rounds the
 * RTT up, so a slower than usual link is not yet taken for a dead leader.
 *
 * Without a profile, clusters started by tests use 50 / 500 ms (one machine: fast failover).
 */
import { ErrorCodes, RepJSError } from '../../core/errors.js'

export interface RaftProfile {
  /** What the profile is meant for. */
  readonly rtt: string
  /** etcd --heartbeat-interval, ms. */
  readonly heartbeatMs: number
  /** etcd --election-timeout, ms. */
  readonly electionMs: number
}

export const PROFILES = {
  /** One data center: etcd's defaults. */
  lan: { rtt: 'under 10 ms (one data center)', heartbeatMs: 100, electionMs: 1000 },
  /** Across the continental US, ~135 ms RTT: heartbeat just above it. */
  continental: { rtt: '~135 ms (across a continent)', heartbeatMs: 150, electionMs: 1500 },
  /** US to Japan, 350-400 ms RTT: heartbeat at the top of the range. */
  'us-japan': { rtt: '350-400 ms (US-Japan)', heartbeatMs: 400, electionMs: 4000 },
  /** Members around the globe: etcd's suggested upper end, a 5 s election timeout. */
  global: { rtt: 'up to ~500 ms (around the globe)', heartbeatMs: 500, electionMs: 5000 },
} as const satisfies Record<string, RaftProfile>

export type ProfileName = keyof typeof PROFILES

/** The timings of tests and the dev cluster when no profile is given: one machine, fast failover. */
export const TEST_TIMING: RaftProfile = { rtt: 'one machine (tests)', heartbeatMs: 50, electionMs: 500 }

export const PROFILE_NAMES = Object.keys(PROFILES) as ProfileName[]

/** The profile called `name`, or REPJS_BAD_ARGUMENT listing the choices. */
export function raftProfile(name: string): RaftProfile {
  if (!Object.hasOwn(PROFILES, name)) {
    throw new RepJSError(ErrorCodes.BAD_ARGUMENT, `unknown --profile '${name}': choose one of ${PROFILE_NAMES.join(', ')}`, { details: { profile: name, choices: PROFILE_NAMES } })
  }
  return PROFILES[name as ProfileName]
}

/** etcd's flags for a timing. */
export function raftFlags(t: RaftProfile): string[] {
  return ['--heartbeat-interval', String(t.heartbeatMs), '--election-timeout', String(t.electionMs)]
}

/**
 * Auto-compaction of etcd's history in the clusters RepJS starts: keep the last 10,000 revisions
 * (etcd checks every 5 minutes). RepJS reads the log at the current revision and watches from the
 * next one, so old revisions only serve a watch that fell behind; one that falls further back is
 * compacted and resumes from a range read. Counting revisions, not hours, bounds the history however
 * fast a run writes: a burst of a million calls keeps 10,000 old revisions, not an hour of them.
 */
export const AUTO_COMPACTION = { mode: 'revision', retention: '10000' } as const

export function compactionFlags(c: { mode: 'revision' | 'periodic'; retention: string }): string[] {
  return ['--auto-compaction-mode', c.mode, '--auto-compaction-retention', c.retention]
}
