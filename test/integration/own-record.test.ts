// A replica whose proposal wins takes the decided record from what it encoded (no decode) when its
// value comes back as itself (a primitive): what it returns must be exactly what a replica that
// decodes the record returns, and objects must still come back as decoded copies.
import { afterAll, expect, test } from 'vitest'
import { connect, type Replica } from '../../node-gateway/index.js'
import { uniqueRun, useEtcd } from '../helpers/etcd.js'

const etcd = useEtcd()
const open: Replica[] = []
afterAll(async () => {
  await Promise.all(open.map((r) => r.close()))
})

const values: unknown[] = [0, -0, 1.5, NaN, -Infinity, 2 ** 53 + 2, 10n ** 30n, -7n, '', 'héllo \u{1F600}', true, false, null, undefined]

test("a won proposal's primitive values are returned exactly as a replica decoding the record returns them", async () => {
  const run = uniqueRun('own')
  const a = await connect({ run, etcd: etcd.endpoint, program: 'own' })
  const b = await connect({ run, etcd: etcd.endpoint, program: 'own' })
  open.push(a, b)
  const fromA: unknown[] = []
  for (const [i, v] of values.entries()) fromA.push(await a.distributed(() => v, { name: `v${i}` })())
  const timeA = await a.now()
  const obj = { x: [1, 2] }
  const objA = await a.distributed(() => obj, { name: 'obj' })()
  const fromB: unknown[] = []
  for (const [i] of values.entries()) fromB.push(await b.distributed(() => 'not b', { name: `v${i}` })())
  expect(await b.now()).toBe(timeA)
  const objB = await b.distributed(() => ({}), { name: 'obj' })()
  for (const [i, v] of values.entries()) {
    expect(Object.is(fromA[i], v), `value ${i}`).toBe(true)
    expect(Object.is(fromB[i], v), `value ${i} on b`).toBe(true)
  }
  expect(objA).toEqual(obj)
  expect(objA).not.toBe(obj)
  expect(objB).toEqual(obj)
})
