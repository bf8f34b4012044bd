// gate.evaluateAsync() with a Redis rate limit vs rate-limiter-flexible's RateLimiterRedis on
// ioredis, same Redis, same run: p50/p99 latency and throughput at concurrency 1, 16, 64, all
// callers on one key (the bench the issue asks for), plus 64 callers on 64 distinct keys (where
// kavach cannot share a script call between concurrent hits of one key).
// The two libraries alternate in short rounds (bench/rounds.ts). Each row also has the CPU
// time per call of the JS thread and of the Redis server's main thread (bench/cpu.ts; the
// server column only for a Redis on this machine).
// Runs alone (`npx tsx bench/redis.ts`) or from `npm run bench -- redis` (`runSuite`, which
// saves bench/results/redis.json for BENCHMARKS.md).
// Redis: KAVACH_REDIS_URL or redis://127.0.0.1:6379.

import Redis from 'ioredis'
import { RateLimiterRedis } from 'rate-limiter-flexible'

import { readFileSync } from 'node:fs'
import { loadavg } from 'node:os'

import { setSpeedLayersOff } from '../binding.js'
import { Gate, RedisRateLimitStore, type EvaluateOptions } from './kavach'
import { CpuTally, jsThreadCpu, threadCpu, type CpuClock } from './cpu'
import { allRows, machine, versions, type Comparison, type SuiteResult } from './results'
import { newPool, timeAsync, toRow, type Pool } from './rounds'
import { printRows } from './table'

const REDIS_URL = process.env.KAVACH_REDIS_URL ?? 'redis://127.0.0.1:6379'
/** Time per (library, case) cell, split into ROUNDS alternating rounds, after a warm-up. */
const CELL_MS = Number(process.env.KAVACH_BENCH_MS ?? 3_000)
const ROUNDS = 3

interface Case {
  label: string
  concurrency: number
  /** Loop i's caller id: one shared key, or one key per loop. */
  caller: (loop: number) => string
}

const ONE_KEY = (): string => 'agent-bench'
const CASES: Case[] = [
  { label: 'concurrency 1', concurrency: 1, caller: ONE_KEY },
  { label: 'concurrency 16', concurrency: 16, caller: ONE_KEY },
  { label: 'concurrency 64', concurrency: 64, caller: ONE_KEY },
  { label: 'concurrency 64, 64 distinct keys', concurrency: 64, caller: (loop) => `agent-bench-${loop}` },
]

/**
 * The Redis server's main thread (where it runs commands and scripts), when the server is on
 * this machine: a loopback URL, and the process id it reports is a redis-server here.
 */
async function redisServerCpu(client: Redis): Promise<CpuClock> {
  const unknown: CpuClock = () => undefined
  if (!['127.0.0.1', 'localhost', '::1', '[::1]'].includes(new URL(REDIS_URL).hostname)) return unknown
  const pid = Number(/process_id:(\d+)/.exec(await client.info('server'))?.[1])
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').startsWith('redis-server') ? threadCpu(pid) : unknown
  } catch {
    return unknown
  }
}

export async function runSuite(): Promise<SuiteResult> {
  return process.env.KAVACH_BENCH_ABLATION === '1' ? runAblation() : runComparison()
}

async function runComparison(): Promise<SuiteResult> {
  const run = `bench-${process.pid}-${Date.now().toString(36)}`
  const store = await RedisRateLimitStore.connect(REDIS_URL, { prefix: run })
  // A limit far above what the bench reaches, so every call does the full check and permits:
  // 1,000,000 (the largest `max`) per 2 s allows 500k/s on one key.
  const gate = Gate.fromObject(
    { policies: [{ name: 'bench', effect: 'permit', conditions: [{ action: 'call_tool' }, { rate_limit: { max: 1_000_000, window: '2s' } }] }] },
    { rateStore: store, enableDrift: false },
  )
  const ctx = (principalId: string): EvaluateOptions => ({ principalId, principalKind: 'agent', actionName: 'call_tool' })
  const first = await gate.evaluateAsync(ctx('agent-bench'))
  if (!first.isPermit) throw new Error(`bench context must be permitted, got ${first.code}: ${first.reason}`)

  const ioredis = new Redis(REDIS_URL, { enableOfflineQueue: true })
  const limiter = new RateLimiterRedis({ storeClient: ioredis, keyPrefix: `${run}-rlf`, points: 1_000_000, duration: 2 })
  const clocks = { 'JS thread': jsThreadCpu, 'Redis server': await redisServerCpu(ioredis) }
  const contexts = Array.from({ length: 64 }, (_, i) => [ctx(`agent-bench-${i}`), ctx('agent-bench')] as const)

  const kavach = async (c: Case, loop: number): Promise<void> => {
    const v = await gate.evaluateAsync(c.caller(loop) === 'agent-bench' ? contexts[loop]![1] : contexts[loop]![0])
    if (!v.isPermit) throw new Error(`refused during bench: ${v.code} ${v.reason}`)
  }
  const rlf = async (c: Case, loop: number): Promise<void> => {
    await limiter.consume(`${c.caller(loop)}:call_tool`)
  }

  const comparisons: Comparison[] = []
  for (const c of CASES) {
    const ours = newPool(new CpuTally(clocks))
    const theirs = newPool(new CpuTally(clocks))
    // Warm-up (connections, JIT, script cache), then alternate.
    await timeAsync(newPool(), c.concurrency, 300, (loop) => kavach(c, loop))
    await timeAsync(newPool(), c.concurrency, 300, (loop) => rlf(c, loop))
    for (let r = 0; r < ROUNDS; r++) {
      await timeAsync(ours, c.concurrency, CELL_MS / ROUNDS, (loop) => kavach(c, loop))
      await timeAsync(theirs, c.concurrency, CELL_MS / ROUNDS, (loop) => rlf(c, loop))
    }
    comparisons.push({
      label: c.label,
      rows: [
        { ...toRow(`redis: kavach evaluateAsync + rate limit, ${c.label}`, ours), library: 'kavach evaluateAsync + rate limit' },
        { ...toRow(`redis: rate-limiter-flexible consume, ${c.label}`, theirs), library: 'rate-limiter-flexible consume (ioredis)' },
      ],
    })
  }

  await gate.close()
  store.close()
  const keys = await ioredis.keys(`*${run}*`)
  if (keys.length > 0) await ioredis.del(...keys)
  const redisVersion = /redis_version:(\S+)/.exec(await ioredis.info('server'))?.[1] ?? 'unknown'
  ioredis.disconnect()
  return {
    suite: 'redis',
    title: 'Redis rate limit: kavach evaluateAsync vs rate-limiter-flexible',
    recordedAt: new Date().toISOString(),
    machine: machine(),
    libraries: { ...versions(['kavach-sdk', 'rate-limiter-flexible', 'ioredis']), 'redis-server': redisVersion },
    method:
      'kavach: gate.evaluateAsync with a one-policy set whose rate_limit (1,000,000 per 2 s, never reached) is kept in Redis by RedisRateLimitStore (a sliding window). ' +
      'rate-limiter-flexible: RateLimiterRedis.consume on ioredis (a fixed window), same Redis. At concurrency N, N loops call back to back on one key ' +
      `(the last case: 64 loops on 64 keys). The two alternate in ${ROUNDS} rounds of ${CELL_MS / ROUNDS} ms each after a 300 ms warm-up. ` +
      'The ratio is kavach ops/s over rate-limiter-flexible ops/s.',
    chart: 'ratios',
    comparisons,
  }
}

// --- Ablation (`KAVACH_BENCH_ABLATION=1 npm run bench -- redis`, bench/results/redis-ablation.json) ---
// The same kavach call with each speed layer switched off in turn (kavach-redis
// `speed_layers.rs`; `setSpeedLayersOff` in-process, `KAVACH_SPEED_LAYERS_OFF` for a whole
// process), next to all layers on and rate-limiter-flexible. Every variant has its own store
// and gate, connected while its switches are in force (some layers are chosen at connect
// time). Within each round every variant runs once per case, in an order that rotates from
// round to round, so a change in the machine's load touches all of them alike.

/**
 * Layers of the Redis path that can be switched off, as named by `KAVACH_SPEED_LAYERS_OFF`
 * (`interned-names`, which every evaluation has, is measured by bench/evaluate.ts).
 */
export const SPEED_LAYERS = ['coalesce', 'direct', 'event-loop', 'socket-watch', 'local-tasks', 'direct-deliver', 'utf16-batch'] as const
const ABLATION_ROUNDS = Number(process.env.KAVACH_BENCH_ROUNDS ?? 8)
const ABLATION_CELL_MS = Number(process.env.KAVACH_BENCH_CELL_MS ?? 1_000)

interface Variant {
  label: string
  off: string[]
  call?: (c: Case, loop: number) => Promise<void>
  close?: () => Promise<void>
}

async function kavachVariant(run: string, off: string[]): Promise<Variant> {
  setSpeedLayersOff(off)
  const store = await RedisRateLimitStore.connect(REDIS_URL, { prefix: `${run}-${off.join('-') || 'all'}` })
  const gate = Gate.fromObject(
    { policies: [{ name: 'bench', effect: 'permit', conditions: [{ action: 'call_tool' }, { rate_limit: { max: 1_000_000, window: '2s' } }] }] },
    { rateStore: store, enableDrift: false },
  )
  const ctx = (principalId: string): EvaluateOptions => ({ principalId, principalKind: 'agent', actionName: 'call_tool' })
  const contexts = Array.from({ length: 64 }, (_, i) => [ctx(`agent-bench-${i}`), ctx('agent-bench')] as const)
  const first = await gate.evaluateAsync(ctx('agent-bench'))
  if (!first.isPermit) throw new Error(`bench context must be permitted, got ${first.code}: ${first.reason}`)
  return {
    label: off.length === 0 ? 'all layers on' : `without ${off.join(', ')}`,
    off,
    call: async (c, loop) => {
      const v = await gate.evaluateAsync(c.caller(loop) === 'agent-bench' ? contexts[loop]![1] : contexts[loop]![0])
      if (!v.isPermit) throw new Error(`refused during bench: ${v.code} ${v.reason}`)
    },
    close: async () => {
      await gate.close()
      store.close()
    },
  }
}

async function runAblation(): Promise<SuiteResult> {
  const run = `ablation-${process.pid}-${Date.now().toString(36)}`
  const variants: Variant[] = [await kavachVariant(run, [])]
  for (const layer of SPEED_LAYERS) variants.push(await kavachVariant(run, [layer]))
  setSpeedLayersOff([])
  const ioredis = new Redis(REDIS_URL, { enableOfflineQueue: true })
  const limiter = new RateLimiterRedis({ storeClient: ioredis, keyPrefix: `${run}-rlf`, points: 1_000_000, duration: 2 })
  variants.push({ label: 'rate-limiter-flexible consume (ioredis)', off: [], call: async (c, loop) => void (await limiter.consume(`${c.caller(loop)}:call_tool`)) })

  const pools: Pool[][] = CASES.map(() => variants.map(() => newPool()))
  const loads: number[] = []
  for (const c of CASES) {
    for (const v of variants) {
      setSpeedLayersOff(v.off)
      await timeAsync(newPool(), c.concurrency, 200, (loop) => v.call!(c, loop))
    }
  }
  for (let r = 0; r < ABLATION_ROUNDS; r++) {
    loads.push(loadavg()[0]!)
    for (const [ci, c] of CASES.entries()) {
      for (let k = 0; k < variants.length; k++) {
        const vi = (k + r + ci) % variants.length
        const v = variants[vi]!
        setSpeedLayersOff(v.off)
        await timeAsync(pools[ci]![vi]!, c.concurrency, ABLATION_CELL_MS, (loop) => v.call!(c, loop))
      }
    }
    console.error(`ablation round ${r + 1}/${ABLATION_ROUNDS} done (load ${loadavg()[0]!.toFixed(1)})`)
  }
  loads.push(loadavg()[0]!)
  setSpeedLayersOff([])
  for (const v of variants) await v.close?.()
  const keys = await ioredis.keys(`*${run}*`)
  if (keys.length > 0) await ioredis.del(...keys)
  const redisVersion = /redis_version:(\S+)/.exec(await ioredis.info('server'))?.[1] ?? 'unknown'
  ioredis.disconnect()
  const load = `${Math.min(...loads).toFixed(1)}-${Math.max(...loads).toFixed(1)}`
  return {
    suite: 'redis-ablation',
    title: 'Redis rate limit: what each speed layer of evaluateAsync buys',
    recordedAt: new Date().toISOString(),
    machine: machine(),
    libraries: { ...versions(['kavach-sdk', 'rate-limiter-flexible', 'ioredis']), 'redis-server': redisVersion },
    method:
      `The Redis-limited gate.evaluateAsync of the comparison above, with all speed layers on (first row of each case), with one layer switched off (each next row, ` +
      '`KAVACH_SPEED_LAYERS_OFF` names; docs/ARCHITECTURE.md, "Speed layers"), and rate-limiter-flexible for scale. ' +
      `${ABLATION_ROUNDS} rounds; in each, every variant runs ${ABLATION_CELL_MS} ms per case, in an order that rotates between rounds, after a 200 ms warm-up each. ` +
      `The machine was shared: 1-minute load average ${load} during the run (2 cores). ` +
      '"kavach faster by" is all-layers-on over that row: how much the switched-off layer buys (1.1× or more at some concurrency keeps a layer).',
    chart: 'ratios',
    comparisons: CASES.map((c, ci) => ({
      label: c.label,
      rows: variants.map((v, vi) => ({ ...toRow(`redis ablation: ${v.label}, ${c.label}`, pools[ci]![vi]!), library: v.label })),
    })),
  }
}

if (require.main === module) {
  runSuite().then(
    (result) => {
      printRows(allRows(result))
    },
    (e: unknown) => {
      console.error(e)
      process.exit(1)
    },
  )
}
