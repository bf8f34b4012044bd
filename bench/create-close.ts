// Create/close loop: gates, in-process broadcasters with listeners, and Redis stores created,
// used once and closed, `--iterations` times (default 10,000), under `--expose-gc`:
//   node --expose-gc --import tsx bench/create-close.ts [--iterations N] [--max-rss-growth 0.2]
// After a warm-up (a tenth of the iterations) the baseline is taken after a full collection:
// active handles (process.getActiveResourcesInfo) and RSS. At the end, after another collection,
// handles must be back at the baseline and RSS within `--max-rss-growth` of it. Prints a JSON
// summary; exit code 1 on any failure. Nothing is left open, so the process exits by itself.
// Redis: KAVACH_REDIS_URL or redis://127.0.0.1:6379.

import { parseArgs } from 'node:util'

import { Gate, InMemoryInvalidationBroadcaster, RedisRateLimitStore, spawnInvalidationListener } from './kavach'

const REDIS_URL = process.env.KAVACH_REDIS_URL ?? 'redis://127.0.0.1:6379'
const POLICY = { policies: [{ name: 'p', effect: 'permit' as const, conditions: [{ action: 'a' }, { rate_limit: { max: 1_000_000, window: '1m' } }] }] }
const CTX = { principalId: 'loop', principalKind: 'agent', actionName: 'a' } as const

interface Sample {
  handles: number
  rss: number
  heapUsed: number
}

async function settle(): Promise<Sample> {
  const gc = (globalThis as { gc?: () => void }).gc
  for (let i = 0; i < 3; i++) {
    gc?.()
    await new Promise((r) => setImmediate(r))
  }
  const m = process.memoryUsage()
  return { handles: process.getActiveResourcesInfo().length, rss: m.rss, heapUsed: m.heapUsed }
}

async function once(i: number, prefix: string): Promise<void> {
  const gate = Gate.fromObject(POLICY)
  if (gate.evaluate(CTX).kind !== 'permit') throw new Error(`gate ${i}: no permit`)
  await gate.close()

  const broadcaster = new InMemoryInvalidationBroadcaster()
  let heard = 0
  const listener = spawnInvalidationListener(broadcaster, () => void heard++)
  const listening = Gate.fromObject(POLICY, { broadcaster })
  broadcaster.publish('principal', `p-${i}`, 'loop')
  listener.abort()
  await listening.close()

  const store = await RedisRateLimitStore.connect(REDIS_URL, { prefix })
  const redisGate = Gate.fromObject(POLICY, { rateStore: store, enableDrift: false })
  const v = await redisGate.evaluateAsync(CTX)
  if (v.kind !== 'permit') throw new Error(`redis gate ${i}: ${JSON.stringify(v)}`)
  await redisGate.close()
  store.close()
}

export async function createCloseLoop(iterations: number, maxRssGrowth: number): Promise<Record<string, unknown>> {
  const prefix = `create-close-${process.pid}-${Date.now()}`
  const warmup = Math.max(1, Math.floor(iterations / 10))
  let base: Sample | undefined
  const started = Date.now()
  for (let i = 0; i < iterations; i++) {
    await once(i, prefix)
    if (i + 1 === warmup) base = await settle()
  }
  const end = await settle()
  base ??= end
  const mib = (b: number): number => Math.round((b / 2 ** 20) * 10) / 10
  const growth = (end.rss - base.rss) / base.rss
  return {
    iterations,
    seconds: Math.round((Date.now() - started) / 100) / 10,
    handles: { afterWarmup: base.handles, end: end.handles },
    rssMiB: { afterWarmup: mib(base.rss), end: mib(end.rss), growthPercent: Math.round(growth * 1000) / 10 },
    heapUsedMiB: { afterWarmup: mib(base.heapUsed), end: mib(end.heapUsed) },
    collected: (globalThis as { gc?: unknown }).gc !== undefined,
    ok: end.handles <= base.handles && growth <= maxRssGrowth,
  }
}

if (require.main === module) {
  const { values } = parseArgs({
    options: { iterations: { type: 'string', default: '10000' }, 'max-rss-growth': { type: 'string', default: '0.2' } },
  })
  createCloseLoop(Number(values.iterations), Number(values['max-rss-growth'])).then(
    (summary) => {
      console.log(JSON.stringify(summary))
      if (summary.ok !== true) process.exitCode = 1
    },
    (e: unknown) => {
      console.error(e)
      process.exitCode = 1
    },
  )
}
