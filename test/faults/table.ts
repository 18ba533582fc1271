/**
 * globalSetup of `npm run test:faults`: the scenarios append one row each to REPJS_FAULTS_REPORT
 * (harness.ts `report`); after the run this prints them as a table (and writes it to
 * REPJS_FAULTS_TABLE if set, e.g. for RELIABILITY.md).
 */
import { existsSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { readJsonLines } from './history.js'
import type { Row } from './harness.js'

export function formatTable(rows: Row[]): string {
  const head = '| scenario | operations | faults injected | histories checked | lost lines | divergences | double executions |'
  const sep = '|---|---:|---:|---:|---:|---:|---:|'
  const body = rows.map((r) => `| ${r.scenario} | ${r.operations} | ${r.faults} | ${r.histories} | ${r.lostLines} | ${r.divergences} | ${r.doubleExecutions} |`)
  const sum = (k: keyof Row) => rows.reduce((n, r) => n + (r[k] as number), 0)
  const total = `| **total** | ${sum('operations')} | ${sum('faults')} | ${sum('histories')} | ${sum('lostLines')} | ${sum('divergences')} | ${sum('doubleExecutions')} |`
  return [head, sep, ...body, total].join('\n')
}

export default function setup(): () => void {
  const path = process.env.REPJS_FAULTS_REPORT ?? join(tmpdir(), `repjs-faults-${process.pid}.jsonl`)
  process.env.REPJS_FAULTS_REPORT = path
  rmSync(path, { force: true })
  return () => {
    const rows = readJsonLines<Row>(path).sort((a, b) => a.scenario.localeCompare(b.scenario))
    const table = formatTable(rows)
    console.log(`\nFault-injection suite (${process.env.REPJS_FAULTS ? 'long' : 'short'} form), ${new Date().toISOString()}:\n\n${table}\n`)
    if (process.env.REPJS_FAULTS_TABLE) writeFileSync(process.env.REPJS_FAULTS_TABLE, table + '\n')
    if (existsSync(path)) rmSync(path)
  }
}
