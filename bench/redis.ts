// gate.evaluateAsync() with a Redis rate limit vs rate-limiter-flexible's RateLimiterRedis on
// ioredis, same Redis, same run: p50/p99 latency and throughput at concurrency 1, 16, 64.
// Runs alone (`npx tsx bench/redis.ts`) or from `npm run bench` (exports `runBench`).
// Redis: KAVACH_REDIS_URL or redis://127.0.0.1:6379.

import Redis from 'ioredis'
import { RateLimiterRedis } from 'rate-limiter-flexible'

import { Gate, RedisRateLimitStore, type EvaluateOptions } from '../index'
import type { BenchRow } from './run'
import { printRows } from './table'

const URL = process.env.KAVACH_REDIS_URL ?? 'redis://127.0.0.1:6379'
const CONCURRENCY = [1, 16, 64]
/** Time spent per (library, concurrency) cell, after a warm-up. */
const CELL_MS = Number(process.env.KAVACH_BENCH_MS ?? 2_000)

/** Runs `op` from `concurrency` loops for `ms`; per-call latency in µs. */
async function measure(name: string, concurrency: number, ms: number, op: () => Promise<void>): Promise<BenchRow> {
  const warmUntil = Date.now() + 300
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < warmUntil) await op()
    }),
  )
  const samples: number[] = []
  const start = process.hrtime.bigint()
  const until = Date.now() + ms
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < until) {
        const t0 = process.hrtime.bigint()
        await op()
        samples.push(Number(process.hrtime.bigint() - t0) / 1000)
      }
    }),
  )
  const elapsedS = Number(process.hrtime.bigint() - start) / 1e9
  samples.sort((a, b) => a - b)
  const at = (q: number): number => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))] ?? 0
  return { name, p50us: at(0.5), p99us: at(0.99), opsPerSec: samples.length / elapsedS, samples: samples.length }
}

export async function runBench(): Promise<BenchRow[]> {
  const run = `bench-${process.pid}-${Date.now().toString(36)}`
  const store = await RedisRateLimitStore.connect(URL, { prefix: run })
  // A limit far above what the bench reaches, so every call does the full check and permits.
  const gate = Gate.fromObject(
    { policies: [{ name: 'bench', effect: 'permit', conditions: [{ action: 'call_tool' }, { rate_limit: { max: 1_000_000, window: '10s' } }] }] },
    { rateStore: store, enableDrift: false },
  )
  const ctx: EvaluateOptions = { principalId: 'agent-bench', principalKind: 'agent', actionName: 'call_tool' }
  const first = await gate.evaluateAsync(ctx)
  if (!first.isPermit) throw new Error(`bench context must be permitted, got ${first.code}: ${first.reason}`)

  const ioredis = new Redis(URL, { enableOfflineQueue: true })
  const limiter = new RateLimiterRedis({ storeClient: ioredis, keyPrefix: `${run}-rlf`, points: 1_000_000, duration: 10 })

  const rows: BenchRow[] = []
  for (const c of CONCURRENCY) {
    rows.push(
      await measure(`redis: kavach evaluateAsync + rate limit, concurrency ${c}`, c, CELL_MS, async () => {
        const v = await gate.evaluateAsync(ctx)
        if (!v.isPermit) throw new Error(`refused during bench: ${v.code} ${v.reason}`)
      }),
    )
    rows.push(
      await measure(`redis: rate-limiter-flexible consume, concurrency ${c}`, c, CELL_MS, async () => {
        await limiter.consume('agent-bench:call_tool')
      }),
    )
  }

  await gate.close()
  store.close()
  const keys = await ioredis.keys(`*${run}*`)
  if (keys.length > 0) await ioredis.del(...keys)
  ioredis.disconnect()
  return rows
}

if (require.main === module) {
  runBench().then(
    (rows) => {
      printRows(rows)
    },
    (e: unknown) => {
      console.error(e)
      process.exit(1)
    },
  )
}
