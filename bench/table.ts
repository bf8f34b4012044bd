// One way to print benchmark rows, shared by the runner and every bench run on its own.

import type { BenchRow } from './run'

export function printRows(rows: BenchRow[], digits = 1): void {
  // CPU columns (bench/cpu.ts) only where some row has them; '' where a row's clock was unreadable.
  const clocks = [...new Set(rows.flatMap((r) => Object.keys(r.cpuUsPerOp ?? {})))]
  console.table(
    rows.map((r) => {
      const row: Record<string, string | number> = {
        benchmark: r.name,
        'p50 (µs)': r.p50us.toFixed(digits),
        'p99 (µs)': r.p99us.toFixed(digits),
        'ops/s': Math.round(r.opsPerSec).toLocaleString('en-US'),
        samples: r.samples,
      }
      for (const c of clocks) row[`${c} CPU/op (µs)`] = r.cpuUsPerOp?.[c]?.toFixed(1) ?? ''
      return row
    }),
  )
}
