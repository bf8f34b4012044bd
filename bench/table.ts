// One way to print benchmark rows, shared by the runner and every bench run on its own.

import type { BenchRow } from './run'

export function printRows(rows: BenchRow[], digits = 1): void {
  console.table(
    rows.map((r) => ({
      benchmark: r.name,
      'p50 (µs)': r.p50us.toFixed(digits),
      'p99 (µs)': r.p99us.toFixed(digits),
      'ops/s': Math.round(r.opsPerSec).toLocaleString('en-US'),
      samples: r.samples,
    })),
  )
}
