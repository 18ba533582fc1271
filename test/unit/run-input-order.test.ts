// The host starts the script's input reads in the order the script made them, whichever arrives first.
import { expect, test } from 'vitest'
import { inputOrder } from '../../node-gateway/run/input-order.js'

test('reads arriving out of order take their input in the order they were numbered', async () => {
  const order = inputOrder()
  const taken: number[] = []
  const take = (n: number) => () => (taken.push(n), Promise.resolve(`line ${n}`))
  const results = [order.inTurn(2, take(2)), order.inTurn(1, take(1)), order.inTurn(3, take(3))]
  await new Promise((r) => setTimeout(r, 10))
  expect(taken).toEqual([]) // read 0 has not come yet
  const first = order.inTurn(0, take(0))
  expect(await Promise.all([first, ...results])).toEqual(['line 0', 'line 2', 'line 1', 'line 3'])
  expect(taken).toEqual([0, 1, 2, 3])
})

test('a take that throws still lets the next read go', async () => {
  const order = inputOrder()
  await expect(order.inTurn(0, () => { throw new Error('closed') })).rejects.toThrow('closed')
  await expect(order.inTurn(1, () => Promise.resolve('next'))).resolves.toBe('next')
})
