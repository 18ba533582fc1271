import { describe, expect, it } from 'vitest'
import { Histogram, Registry } from 'prom-client'
import { OpHistogram } from '../../node-gateway/gateway/op-histogram.js'

const buckets = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5]

describe('OpHistogram (the gateway etcd latency histogram)', () => {
  it('renders exactly what prom-client\'s Histogram renders for the same observations', async () => {
    const ours = new Registry()
    const theirs = new Registry()
    const a = new OpHistogram({ name: 'x_seconds', help: 'h', buckets, registers: [ours] })
    const b = new Histogram({ name: 'x_seconds', help: 'h', labelNames: ['op'], buckets, registers: [theirs] })
    // Values on bounds, between them, past the last one, for ops in two orders.
    const seen = [0.0001, 0.0005, 0.0007, 0.001, 0.003, 0.01, 0.2, 1, 4.9, 5, 7, 100]
    seen.forEach((v, i) => {
      const op = i % 3 === 0 ? 'propose' : i % 3 === 1 ? 'vote' : 'open'
      a.observe(op, v)
      b.observe({ op }, v)
    })
    expect(await ours.metrics()).toBe(await theirs.metrics())
    expect(await ours.metrics()).toContain('x_seconds_count{op="propose"} 4')
  })

  it('renders no values before the first observation, and none after reset', async () => {
    const r = new Registry()
    const a = new OpHistogram({ name: 'y_seconds', help: 'h', buckets, registers: [r] })
    const empty = await r.metrics()
    expect(empty).toBe('# HELP y_seconds h\n# TYPE y_seconds histogram\n')
    a.observe('propose', 0.001)
    expect(await r.metrics()).toContain('y_seconds_bucket{le="0.001",op="propose"} 1')
    a.reset()
    expect(await r.metrics()).toBe(empty)
  })
})
