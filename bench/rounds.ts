// Timing in alternating rounds: two contenders take turns in short rounds and each pools its
// rounds, so a drift in the machine's load during the run does not favour either side.
// Used where we compare with another library (bench/pq.ts, bench/redis.ts).

import type { CpuTally } from './cpu'
import type { BenchRow } from './run'

/** Per-call latencies (µs) and the wall time they took, pooled over rounds; with `cpu`, the CPU time of its clocks too. */
export interface Pool {
  samples: number[]
  seconds: number
  cpu?: CpuTally
}

export function newPool(cpu?: CpuTally): Pool {
  return { samples: [], seconds: 0, cpu }
}

/** Calls `op` back to back for `ms`, adding to `pool`. */
export function timeSync(pool: Pool, ms: number, op: () => void): void {
  const start = process.hrtime.bigint()
  const until = Date.now() + ms
  while (Date.now() < until) {
    const t0 = process.hrtime.bigint()
    op()
    pool.samples.push(Number(process.hrtime.bigint() - t0) / 1000)
  }
  pool.seconds += Number(process.hrtime.bigint() - start) / 1e9
}

/** Runs `op(loop)` from `concurrency` loops for `ms`, adding to `pool`. */
export async function timeAsync(pool: Pool, concurrency: number, ms: number, op: (loop: number) => Promise<void>): Promise<void> {
  const round = async (): Promise<void> => {
    const start = process.hrtime.bigint()
    const until = Date.now() + ms
    await Promise.all(
      Array.from({ length: concurrency }, async (_, loop) => {
        while (Date.now() < until) {
          const t0 = process.hrtime.bigint()
          await op(loop)
          pool.samples.push(Number(process.hrtime.bigint() - t0) / 1000)
        }
      }),
    )
    pool.seconds += Number(process.hrtime.bigint() - start) / 1e9
  }
  await (pool.cpu === undefined ? round() : pool.cpu.around(round))
}

/** p50/p99 of the pooled samples; ops/s over the pooled wall time. */
export function toRow(name: string, pool: Pool): BenchRow {
  const samples = [...pool.samples].sort((a, b) => a - b)
  const at = (q: number): number => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))] ?? 0
  const row: BenchRow = { name, p50us: at(0.5), p99us: at(0.99), opsPerSec: samples.length / pool.seconds, samples: samples.length }
  if (pool.cpu !== undefined) row.cpuUsPerOp = pool.cpu.perOpUs(samples.length)
  return row
}
