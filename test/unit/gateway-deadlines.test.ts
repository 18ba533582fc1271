import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { RequestDeadlines } from '../../core/gateway-deadlines.js'

describe('RequestDeadlines (a gateway connection\'s request deadlines on one timer)', () => {
  beforeEach(() => vi.useFakeTimers())
  afterEach(() => vi.useRealTimers())

  it('expires each request ms after its last (re)start, in that order, and never early', () => {
    const d = new RequestDeadlines(1000)
    const fired: [number, number][] = []
    const t0 = Date.now()
    const at = (id: number) => () => fired.push([id, Date.now() - t0])
    d.start(1, at(1))
    vi.advanceTimersByTime(300)
    d.start(2, at(2))
    vi.advanceTimersByTime(300)
    d.start(1, at(1)) // restarted at 600: now due after 2
    d.start(3, at(3))
    d.clear(3)
    vi.advanceTimersByTime(5000)
    expect(fired).toEqual([[2, 1300], [1, 1600]])
  })

  it('leaves no timer armed once no request has a deadline', () => {
    const d = new RequestDeadlines(1000)
    d.start(1, () => {})
    d.start(2, () => {})
    d.clear(1)
    expect(vi.getTimerCount()).toBe(1)
    d.clear(2)
    expect(vi.getTimerCount()).toBe(0)
    d.start(3, () => {})
    d.clearAll()
    expect(vi.getTimerCount()).toBe(0)
    d.start(4, () => {})
    vi.advanceTimersByTime(1000)
    expect(vi.getTimerCount()).toBe(0)
  })

  it('an expiry may restart its own deadline or clear the others', () => {
    const d = new RequestDeadlines(1000)
    const fired: number[] = []
    let again = 2
    const self = () => {
      fired.push(1)
      if (again-- > 0) d.start(1, self)
    }
    d.start(1, self)
    d.start(2, () => {
      fired.push(2)
      d.clear(3)
    })
    d.start(3, () => fired.push(3))
    vi.advanceTimersByTime(10_000)
    expect(fired).toEqual([1, 2, 1, 1])
    expect(vi.getTimerCount()).toBe(0)
  })
})
