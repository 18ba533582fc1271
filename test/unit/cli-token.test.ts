// `repjs token`: prints a run token signed with the secret; --replica pins it to one replica id.
import { execFileSync } from 'node:child_process'
import { expect, test } from 'vitest'
import { checkTokenReplica, verifyToken } from '../../node-gateway/gateway/token.js'
import { cli } from '../helpers/run-script.js'

const token = (...args: string[]) =>
  execFileSync(process.execPath, [cli, 'token', ...args], { env: { ...process.env, REPJS_GATEWAY_SECRET: 'cli-secret' }, encoding: 'utf8' }).trim()

test('repjs token signs a token for the run; --replica pins the replica id', () => {
  const open = verifyToken('cli-secret', token('--run', 'r1'), 'r1')
  expect(() => checkTokenReplica(open, 'any-replica')).not.toThrow()
  expect(() => verifyToken('cli-secret', token('--run', 'r1'), 'r2')).toThrow()
  const pinned = verifyToken('cli-secret', token('--run', 'r1', '--replica', 'tab-a'), 'r1')
  expect(() => checkTokenReplica(pinned, 'tab-a')).not.toThrow()
  expect(() => checkTokenReplica(pinned, 'tab-b')).toThrow(/replica/)
  expect(pinned.exp * 1000).toBeGreaterThan(Date.now())
})
