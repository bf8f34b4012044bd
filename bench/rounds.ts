// Timing in alternating rounds: two contenders take turns in short rounds and each pools its
// rounds, so a drift in the machine's load during the run does not favour either side.
// Used where we compare with another library (bench/peers.ts, bench/pq.ts, bench/redis.ts).

import type { CpuTally } from './cpu'
import type { BenchRow } from './run'

/**
 * Per-call latencies (µs) and the wall time they took, pooled over rounds; with `cpu`, the CPU
 * time of its clocks too. `batchCalls`/`batchSeconds`: calls timed in batches (timeSync), whose
 * throughput carries no per-call clock reads.
 */
export interface Pool {
  samples: number[]
  seconds: number
  batchCalls: number
  batchSeconds: number
  cpu?: CpuTally
}

export function newPool(cpu?: CpuTally): Pool {
  return { samples: [], seconds: 0, batchCalls: 0, batchSeconds: 0, cpu }
}

/** A batch of a synchronous op lasts about this long, so its two clock reads are noise. */
const BATCH_US = 2_000

/**
 * Calls `op` back to back for `ms`, adding to `pool`: the first half of the time each call is
 * timed alone (the latency samples, which include one clock read of about 0.05 µs), the second
 * half in batches of about `BATCH_US` timed as a whole (throughput). Reading the clock around
 * every call would add its own cost to every call and shrink the ratio between a sub-microsecond
 * library and a slower one.
 */
export function timeSync(pool: Pool, ms: number, op: () => void): void {
  const start = process.hrtime.bigint()
  const half = Date.now() + ms / 2
  const first = pool.samples.length
  while (Date.now() < half) {
    const t0 = process.hrtime.bigint()
    op()
    pool.samples.push(Number(process.hrtime.bigint() - t0) / 1000)
  }
  const batch = batchSize(start, pool.samples.length - first)
  const until = Date.now() + ms / 2
  while (Date.now() < until) {
    const t0 = process.hrtime.bigint()
    for (let i = 0; i < batch; i++) op()
    pool.batchSeconds += Number(process.hrtime.bigint() - t0) / 1e9
    pool.batchCalls += batch
  }
  pool.seconds += Number(process.hrtime.bigint() - start) / 1e9
}

/**
 * `timeSync` for an asynchronous op, each call awaited before the next starts (one caller
 * awaiting each decision, as an application handling one request does): single calls timed in
 * the first half, batches of about `BATCH_US` in the second.
 */
export async function timeAwaited(pool: Pool, ms: number, op: () => Promise<void>): Promise<void> {
  const start = process.hrtime.bigint()
  const half = Date.now() + ms / 2
  const first = pool.samples.length
  while (Date.now() < half) {
    const t0 = process.hrtime.bigint()
    await op()
    pool.samples.push(Number(process.hrtime.bigint() - t0) / 1000)
  }
  const batch = batchSize(start, pool.samples.length - first)
  const until = Date.now() + ms / 2
  while (Date.now() < until) {
    const t0 = process.hrtime.bigint()
    for (let i = 0; i < batch; i++) await op()
    pool.batchSeconds += Number(process.hrtime.bigint() - t0) / 1e9
    pool.batchCalls += batch
  }
  pool.seconds += Number(process.hrtime.bigint() - start) / 1e9
}

/** Calls per batch of about `BATCH_US`, from the `sampled` single calls timed since `start`. */
function batchSize(start: bigint, sampled: number): number {
  const perCallUs = (Number(process.hrtime.bigint() - start) / 1000) / Math.max(1, sampled)
  return Math.max(1, Math.round(BATCH_US / perCallUs))
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

/** p50/p99 of the pooled samples; ops/s from the batches (timeSync), else over the pooled wall time. */
export function toRow(name: string, pool: Pool): BenchRow {
  const samples = [...pool.samples].sort((a, b) => a - b)
  const at = (q: number): number => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))] ?? 0
  const opsPerSec = pool.batchCalls > 0 ? pool.batchCalls / pool.batchSeconds : samples.length / pool.seconds
  const row: BenchRow = { name, p50us: at(0.5), p99us: at(0.99), opsPerSec, samples: samples.length }
  if (pool.cpu !== undefined) row.cpuUsPerOp = pool.cpu.perOpUs(samples.length)
  return row
}
