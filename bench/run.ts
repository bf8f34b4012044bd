// `npm run bench`: runs bench/evaluate.ts, then any other bench/*.ts module that exports
// `runSuite(): Promise<SuiteResult>` (a comparison with peer libraries, saved as
// bench/results/<suite>.json) or `runBench(): Promise<BenchRow[]>`, and prints one table.
// After a suite, BENCHMARKS.md and its charts are regenerated from the saved results.
// `npm run bench -- <name>` runs only the files whose name contains <name>;
// `npm run bench -- report` only regenerates BENCHMARKS.md and the charts.

import { readdirSync } from 'node:fs'
import { setFlagsFromString } from 'node:v8'
import { arch, cpus, platform } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { writeReport } from './report'
import { allRows, writeResult, type SuiteResult } from './results'
import { printRows } from './table'

export interface BenchRow {
  name: string
  p50us: number
  p99us: number
  opsPerSec: number
  samples: number
  /** CPU time per operation (µs) by clock (bench/cpu.ts), where the bench measures it. */
  cpuUsPerOp?: Record<string, number | undefined>
}

// Node 20's V8 aborts the process ("unreachable code" in Deoptimizer::DoComputeBuiltinContinuation)
// when casbin and @cedar-policy/cedar-wasm (preparsed) are timed in turn in one process, with or
// without kavach; not inlining JS-to-wasm calls avoids it. It changes nothing for code without
// wasm, and only that inlining for cedar-wasm (bench/peers.ts). Set before any bench code runs.
setFlagsFromString('--no-turbo-inline-js-wasm-calls')

async function main(): Promise<void> {
  const files = ['evaluate.ts', ...readdirSync(__dirname).filter((f) => f.endsWith('.ts') && f !== 'run.ts' && f !== 'evaluate.ts').sort()]
  const only = process.argv[2]
  if (only === 'report') return writeReport()
  const rows: BenchRow[] = []
  let suites = 0
  for (const f of files) {
    if (only !== undefined && !f.includes(only)) continue
    const mod = (await import(pathToFileURL(join(__dirname, f)).href)) as { runBench?: () => Promise<BenchRow[]>; runSuite?: () => Promise<SuiteResult> }
    if (typeof mod.runSuite === 'function') {
      console.error(`running bench/${f} ...`)
      const result = await mod.runSuite()
      console.error(`wrote ${writeResult(result)}`)
      rows.push(...allRows(result))
      suites++
    } else if (typeof mod.runBench === 'function') {
      console.error(`running bench/${f} ...`)
      rows.push(...(await mod.runBench()))
    }
  }
  if (suites > 0) await writeReport()
  console.log(`\nnode ${process.version}, ${platform()}-${arch()}, ${cpus()[0]?.model ?? 'unknown cpu'} x${cpus().length}`)
  printRows(rows, 2)
}

main().catch((e: unknown) => {
  console.error(e)
  process.exit(1)
})
