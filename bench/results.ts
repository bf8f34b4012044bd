// One suite's results as data: what `bench/results/<suite>.json` holds, so the tables and charts
// in BENCHMARKS.md (bench/report.ts) are regenerated from measurements, never edited by hand.

import { execFileSync } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { arch, cpus, loadavg, platform } from 'node:os'
import { join } from 'node:path'

import type { BenchRow } from './run'

export const RESULTS_DIR = join(__dirname, 'results')

/** One measured contender of a comparison. */
export interface Contender extends BenchRow {
  /** Library (and mode) measured, e.g. `kavach`, `@cedar-policy/cedar-wasm (preparsed)`. */
  library: string
}

/** Contenders doing the same work on the same input; `rows[0]` is kavach, the others are its peers. */
export interface Comparison {
  label: string
  /** Policy count, for the latency-against-policies chart. */
  policies?: number
  rows: Contender[]
}

export interface Machine {
  cpu: string
  cores: number
  os: string
  node: string
  rust: string
  /** 1-minute load average when the suite finished: how busy the (shared) machine was. */
  load1?: number
}

export interface SuiteResult {
  suite: string
  title: string
  /** ISO 8601 time the run finished. */
  recordedAt: string
  machine: Machine
  /** Package name → installed version, for every library measured. */
  libraries: Record<string, string>
  /** How it was measured, one paragraph. */
  method: string
  /** `policies`: latency against policy count (log-log); `ratios`: a bar per peer of kavach's speedup. */
  chart: 'policies' | 'ratios'
  comparisons: Comparison[]
}

function rustVersion(): string {
  try {
    return execFileSync('rustc', ['--version'], { encoding: 'utf8' }).trim()
  } catch {
    return 'unknown (rustc not on PATH)'
  }
}

export function machine(): Machine {
  return {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    os: `${platform()}-${arch()}`,
    node: process.version,
    rust: rustVersion(),
    load1: Number(loadavg()[0]?.toFixed(2)),
  }
}

/** Installed version of an npm package (or of this package for `kavach-sdk`). */
export function packageVersion(name: string): string {
  // Read from node_modules directly: some packages (cedar-wasm) do not export their package.json.
  const root = join(__dirname, '..')
  const path = name === 'kavach-sdk' ? join(root, 'package.json') : join(root, 'node_modules', name, 'package.json')
  return (JSON.parse(readFileSync(path, 'utf8')) as { version: string }).version
}

export function versions(names: string[]): Record<string, string> {
  return Object.fromEntries(names.map((n) => [n, packageVersion(n)]))
}

/** How many times faster kavach (`rows[0]`) is than `row`, by throughput and by p50 latency. */
export function speedup(c: Comparison, row: Contender): { ops: number; p50: number } {
  const ours = c.rows[0]!
  return { ops: ours.opsPerSec / row.opsPerSec, p50: row.p50us / ours.p50us }
}

export function writeResult(result: SuiteResult): string {
  mkdirSync(RESULTS_DIR, { recursive: true })
  const path = join(RESULTS_DIR, `${result.suite}.json`)
  writeFileSync(path, `${JSON.stringify(result, null, 2)}\n`)
  return path
}

/** Every row of a suite, for the console table. */
export function allRows(result: SuiteResult): BenchRow[] {
  return result.comparisons.flatMap((c) => c.rows.map((r) => ({ ...r, name: `${c.label}: ${r.library}` })))
}
