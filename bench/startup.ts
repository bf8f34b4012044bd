// Start-up cost: how long `require('kavach-sdk')` takes in a fresh Node process (the built
// package in dist/, resolved by name like an installed one). Median of 10 processes; node's
// own boot is outside the timed span. Build first: `npm run build:ts`.
// Runs alone (`npx tsx bench/startup.ts`) or from `npm run bench -- startup` (exports `runBench`).

import { execFileSync } from 'node:child_process'
import { join } from 'node:path'

import type { BenchRow } from './run'
import { printRows } from './table'

const PROCESSES = 10
const root = join(__dirname, '..')

/** Milliseconds spent in `require(specifier)`, measured inside a fresh process. */
function requireMs(specifier: string): number {
  const script = `const t = performance.now(); require(${JSON.stringify(specifier)}); process.stdout.write(String(performance.now() - t))`
  return Number(execFileSync(process.execPath, ['-e', script], { cwd: root, encoding: 'utf8' }))
}

function row(name: string, specifier: string): BenchRow {
  const ms = Array.from({ length: PROCESSES }, () => requireMs(specifier)).sort((a, b) => a - b)
  const median = (ms[(PROCESSES - 1) >> 1]! + ms[PROCESSES >> 1]!) / 2
  console.error(`${name}: median ${median.toFixed(1)} ms (${ms.map((m) => m.toFixed(1)).join(', ')})`)
  return { name, p50us: median * 1000, p99us: ms[PROCESSES - 1]! * 1000, opsPerSec: 1000 / median, samples: PROCESSES }
}

export async function runBench(): Promise<BenchRow[]> {
  return [row("require('kavach-sdk')", 'kavach-sdk'), row("require('kavach-sdk/schema') (zod)", 'kavach-sdk/schema')]
}

if (require.main === module) {
  void runBench().then((rows) => printRows(rows, 0))
}
