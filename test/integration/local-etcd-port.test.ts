/**
 * A member whose port another process took (free ports are found by binding and letting go, so
 * another test's etcd can take one first) is not mistaken for the other etcd that answers there:
 * startCluster fails saying so, instead of handing back a "member" whose process is gone (a test
 * then SIGSTOPs a dead process and its calls go to a stranger; it happened once in CI).
 */
import { afterAll, expect, test } from 'vitest'
import { startCluster, type Cluster } from '../helpers/etcd.js'

let other: Cluster | undefined
afterAll(async () => {
  await other?.stop()
})

test('a member whose client port is taken by another etcd is reported, not mistaken for it', async () => {
  other = await startCluster(1)
  const taken = Number(new URL(other.endpoint).port)
  await expect(startCluster(1, { clientPort: taken })).rejects.toThrow(/exited before serving|as itself/)
})
