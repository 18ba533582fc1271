// A detached run-once lock is given up 2/3 of its TTL after its gateway was last heard, counted on the
// monotonic clock: a wall-clock step back (NTP, an operator) must not keep it "held" past its lease,
// where another replica may take the lock and run the side effect again.
import { afterEach, beforeEach, expect, it, vi } from 'vitest'
import { GatewayLocks, type LockConnection } from '../../core/gateway-locks.js'

beforeEach(() => vi.useFakeTimers())
afterEach(() => vi.useRealTimers())

const conn: LockConnection = {
  socket: () => undefined,
  ready: () => false,
  request: () => new Promise(() => {}),
  sendWaiting: () => {},
  failWaiting: () => {},
}

it('a detached lock is lost 2/3 TTL after the gateway was last heard, whatever the wall clock does', () => {
  const locks = new GatewayLocks(conn)
  const lock = locks.hold({ run: 'r', stream: 'main', slot: 0 }, 3000, 1, undefined)
  const lastHeard = performance.now()
  vi.setSystemTime(Date.now() - 3_600_000)
  locks.detachAll(lastHeard)
  vi.advanceTimersByTime(1999)
  expect(lock.signal.aborted).toBe(false)
  vi.advanceTimersByTime(1)
  expect(lock.signal.aborted).toBe(true)
})
