/** Prometheus metrics of one gateway (its own registry, so several gateways can live in one process). */
import { Counter, Gauge, Registry } from 'prom-client'
import { OpHistogram } from './op-histogram.js'

export function createMetrics() {
  const registry = new Registry()
  const m = {
    registry,
    connections: new Gauge({ name: 'repjs_gateway_connections', help: 'Open replica connections', registers: [registry] }),
    runs: new Gauge({ name: 'repjs_gateway_streams', help: 'Run streams with a shared etcd watch', registers: [registry] }),
    locks: new Gauge({ name: 'repjs_gateway_locks', help: 'Run-once locks whose leases this gateway keeps alive for an open connection', registers: [registry] }),
    proposals: new Counter({ name: 'repjs_gateway_proposals_total', help: 'Proposals forwarded to etcd', registers: [registry] }),
    pushed: new Counter({ name: 'repjs_gateway_decided_pushed_total', help: 'Decided slots pushed to replicas', registers: [registry] }),
    watchesCompacted: new Counter({ name: 'repjs_gateway_watches_compacted_total', help: 'Log watches etcd cancelled because their start revision was compacted (each restarted from a range read)', registers: [registry] }),
    presenceWrites: new Counter({ name: 'repjs_gateway_presence_writes_total', help: 'Presence keys written for connections (at most one per connection per second)', registers: [registry] }),
    refused: new Counter({ name: 'repjs_gateway_refused_total', help: 'Connections or frames refused', labelNames: ['reason'], registers: [registry] }),
    etcdLatency: new OpHistogram({
      name: 'repjs_gateway_etcd_seconds', help: 'Latency of etcd requests made for replicas', registers: [registry],
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
    }),
  }
  return m
}
export type Metrics = ReturnType<typeof createMetrics>

/** Observe the seconds since `t0` (a performance.now()) in a histogram labelled by `op`. */
export function observeSince(h: OpHistogram, op: string, t0: number): void {
  h.observe(op, (performance.now() - t0) / 1000)
}
