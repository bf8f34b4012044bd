// `npm run bench`: runs bench/evaluate.ts, then any other bench/*.ts module that exports
// `runBench(): Promise<BenchRow[]>` (e.g. the Redis benchmarks), and prints one table.

import { readdirSync } from 'node:fs'
import { arch, cpus, platform } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
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

async function main(): Promise<void> {
  const files = ['evaluate.ts', ...readdirSync(__dirname).filter((f) => f.endsWith('.ts') && f !== 'run.ts' && f !== 'evaluate.ts').sort()]
  const only = process.argv[2]
  const rows: BenchRow[] = []
  for (const f of files) {
    if (only !== undefined && !f.includes(only)) continue
    const mod = (await import(pathToFileURL(join(__dirname, f)).href)) as { runBench?: () => Promise<BenchRow[]> }
    if (typeof mod.runBench !== 'function') continue
    console.error(`running bench/${f} ...`)
    rows.push(...(await mod.runBench()))
  }
  console.log(`\nnode ${process.version}, ${platform()}-${arch()}, ${cpus()[0]?.model ?? 'unknown cpu'} x${cpus().length}`)
  printRows(rows, 2)
}

void main()
