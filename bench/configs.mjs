/**
 * How much each experiment of bench/run.mjs does, per mode: `full` (npm run bench), `quick` (under 3
 * minutes) and `smoke` (tiny counts, what npm test runs). Every mode has the same keys.
 */
export const CONFIGS = {
  full: {
    floor: { warm: 2000, n: 5000, rounds: 25 },
    bridge: { n: 10_000, warm: 500, blocks: 10 },
    browser: { n: 2000, warm: 200, rounds: 2 },
    prototype: { n: 10_000, warm: 2000 },
    catchup: { slots: 100_000, chase: 20_000, warmChase: 2000 },
    streams: { counts: [1, 2, 4, 8, 16, 32], replicas: [1, 3], n: 6400, warm: 500 },
    fanout: { clients: 1000, processes: 4, warmSlots: 50, slots: 200, everyMs: 20, slowSlots: 50, slowEveryMs: 100, runs: 5 },
    calls: { n: [0, 10, 100, 1000, 10_000], replicas: [1, 2, 4, 8] },
    replicas: { n: 200, warm: 20, counts: [1, 2, 4, 8, 12, 16] },
    users: { n: 2000, reps: 5 },
    timeoutMs: 240_000,
  },
  quick: {
    floor: { warm: 300, n: 600, rounds: 6 },
    bridge: { n: 600, warm: 200, blocks: 3 },
    browser: { n: 500, warm: 100, rounds: 1 },
    prototype: { n: 1000, warm: 300 },
    catchup: { slots: 20_000, chase: 3000, warmChase: 300 },
    streams: { counts: [1, 4, 16], replicas: [1, 3], n: 960, warm: 200 },
    fanout: { clients: 200, processes: 2, warmSlots: 20, slots: 100, everyMs: 20, slowSlots: 20, slowEveryMs: 100, runs: 2 },
    calls: { n: [0, 10, 1000], replicas: [1, 2, 4, 8] },
    replicas: { n: 50, warm: 10, counts: [1, 4, 8, 12, 16] },
    users: { n: 500, reps: 3 },
    timeoutMs: 90_000,
  },
  smoke: {
    floor: { warm: 10, n: 40, rounds: 2 },
    bridge: { n: 40, warm: 10, blocks: 2 },
    browser: { n: 40, warm: 10, rounds: 1 },
    prototype: { n: 40, warm: 10 },
    catchup: { slots: 1000, chase: 400, warmChase: 20 },
    streams: { counts: [1, 4], replicas: [1, 2], n: 40, warm: 10 },
    fanout: { clients: 10, processes: 2, warmSlots: 5, slots: 10, everyMs: 20, slowSlots: 5, slowEveryMs: 50, runs: 2 },
    calls: { n: [0, 10], replicas: [1, 2] },
    replicas: { n: 10, warm: 5, counts: [1, 2] },
    users: { n: 20, reps: 1 },
    timeoutMs: 60_000,
  },
}
