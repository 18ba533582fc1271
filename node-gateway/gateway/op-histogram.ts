/**
 * A latency histogram labelled by one `op` label, exposed through a prom-client Registry
 * (`registerMetric` + `get()`, the shape prom-client's own Histogram returns). Written here because
 * it is observed once per gateway request: prom-client's `observe` validates and hashes the labels
 * and formats its checks on every call (~15 µs of the gateway's CPU per agreed call, by
 * `--cpu-prof`); this one finds the op's counters in a Map and its bucket in a short loop.
 */
import type { Registry } from 'prom-client'

interface OpCounts {
  readonly labels: { op: string }
  /** Per bucket (not cumulative), then the overflow past the last bound. */
  readonly buckets: Float64Array
  sum: number
  count: number
}

interface Value {
  labels: Record<string, string | number>
  value: number
  metricName: string
}

export class OpHistogram {
  readonly type = 'histogram'
  readonly aggregator = 'sum'
  readonly name: string
  readonly help: string
  private readonly bounds: readonly number[]
  private readonly ops = new Map<string, OpCounts>()

  constructor(o: { name: string; help: string; buckets: number[]; registers: Registry[] }) {
    this.name = o.name
    this.help = o.help
    this.bounds = [...o.buckets].sort((a, b) => a - b)
    for (const r of o.registers) r.registerMetric(this as never)
  }

  observe(op: string, seconds: number): void {
    let c = this.ops.get(op)
    if (!c) this.ops.set(op, (c = { labels: { op }, buckets: new Float64Array(this.bounds.length + 1), sum: 0, count: 0 }))
    const b = this.bounds
    let i = 0
    while (i < b.length && seconds > b[i]!) i++
    c.buckets[i]!++
    c.sum += seconds
    c.count++
  }

  /** What prom-client's Registry renders: cumulative `_bucket`s with `le`, `_sum` and `_count` per op. */
  get(): { name: string; help: string; type: string; aggregator: string; values: Value[] } {
    const values: Value[] = []
    for (const c of this.ops.values()) {
      let acc = 0
      this.bounds.forEach((le, i) => {
        acc += c.buckets[i]!
        values.push({ labels: { le, ...c.labels }, value: acc, metricName: `${this.name}_bucket` })
      })
      values.push({ labels: { le: '+Inf', ...c.labels }, value: c.count, metricName: `${this.name}_bucket` })
      values.push({ labels: { ...c.labels }, value: c.sum, metricName: `${this.name}_sum` })
      values.push({ labels: { ...c.labels }, value: c.count, metricName: `${this.name}_count` })
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values }
  }

  reset(): void {
    this.ops.clear()
  }
}
