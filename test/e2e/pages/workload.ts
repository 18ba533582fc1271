// The workload every replica of the browser e2e tests runs (see test/fixtures/workload.mjs).
export { workload } from '../../fixtures/workload.mjs'
