// The lean etcd connection's call deadlines are durations: a wall-clock step (NTP, an operator)
// neither holds them off nor fires them early (deadlines are performance.now() instants).
import { afterEach, beforeEach, expect, it, vi } from 'vitest'
import { CallDeadlines } from '../../node-gateway/store/grpc/call-deadlines.js'

beforeEach(() => vi.useFakeTimers())
afterEach(() => vi.useRealTimers())

it('a call expires at its deadline whatever the wall clock does', () => {
  const fired: string[] = []
  const d = new CallDeadlines<{ deadline: number; name: string }>((c) => fired.push(c.name))
  d.add({ name: 'a', deadline: performance.now() + 1000 })
  vi.setSystemTime(Date.now() - 3_600_000)
  d.add({ name: 'b', deadline: performance.now() + 1000 })
  vi.setSystemTime(Date.now() + 7_200_000)
  vi.advanceTimersByTime(999)
  expect(fired).toEqual([])
  vi.advanceTimersByTime(2)
  expect(fired).toEqual(['a', 'b'])
  d.clear()
})
