// Faults: a dedicated redis-server killed mid-load and restarted, CLIENT PAUSE, CLIENT KILL,
// a wrong URL and a black-hole address. Fail closed: no permit beyond the limit, every
// evaluation during an outage refuses, no call outlives its timeout, service resumes after.

import { createServer, type Server, type Socket } from 'node:net'

import { afterAll, beforeAll, describe, expect, test } from 'vitest'

import {
  Gate,
  InvalidArgumentError,
  RedisInvalidationBroadcaster,
  RedisRateLimitStore,
  RedisSessionStore,
  StoreUnavailableError,
  spawnInvalidationListener,
  type InvalidationScope,
  type PolicySetInput,
  type Verdict,
} from '../index'
import { RedisProcess, ioredis, sparePort, uniquePrefix } from './fixtures/redis-helpers'

const LIMIT = 60
const POLICY: PolicySetInput = {
  policies: [
    { name: 'refunds', effect: 'permit', conditions: [{ action: 'issue_refund' }, { rate_limit: { max: LIMIT, window: '1h' } }] },
  ],
}
const REFUND = {
  principalId: 'agent-bot',
  principalKind: 'agent' as const,
  actionName: 'issue_refund',
  sessionId: 'fault-session',
  ip: '10.0.0.1',
}
const COMMAND_TIMEOUT_MS = 300
/** Generous bound for "did not hang": the command timeout plus scheduling slack on a busy box. */
const HANG_BOUND_MS = COMMAND_TIMEOUT_MS * 3 + 2_000

let server: RedisProcess
let rate: RedisRateLimitStore
let sessions: RedisSessionStore
let broadcaster: RedisInvalidationBroadcaster
let gate: Gate
const tally = { tried: 0, refused: 0, permitted: 0, wronglyPermitted: 0, slowest: 0 }

async function timed(): Promise<Verdict> {
  const t0 = Date.now()
  const v = await gate.evaluateAsync(REFUND)
  tally.slowest = Math.max(tally.slowest, Date.now() - t0)
  tally.tried++
  if (v.isPermit) tally.permitted++
  else tally.refused++
  return v
}

/** `n` concurrent evaluations while Redis is down/paused: every one must refuse, none hang. */
async function duringOutage(n: number): Promise<void> {
  const results = await Promise.all(
    Array.from({ length: n }, async () => {
      const t0 = Date.now()
      const v = await timed()
      return { v, ms: Date.now() - t0 }
    }),
  )
  for (const { v, ms } of results) {
    if (v.isPermit) tally.wronglyPermitted++
    expect(v.isRefuse).toBe(true)
    expect(v.code).toBe('STORE_UNAVAILABLE')
    expect(v.reason).toMatch(/store unavailable/)
    expect(ms).toBeLessThan(HANG_BOUND_MS)
  }
}

/** Polls until the gate answers from Redis again (anything but STORE_UNAVAILABLE). */
async function recovered(): Promise<Verdict> {
  const until = Date.now() + 20_000
  for (;;) {
    const v = await timed()
    if (v.code !== 'STORE_UNAVAILABLE') return v
    if (Date.now() > until) throw new Error('the store did not recover within 20 s')
    await new Promise((r) => setTimeout(r, 100))
  }
}

beforeAll(async () => {
  // AOF with fsync always: a killed server comes back with its counters, so "never more than
  // the limit" can be checked across the crash.
  server = await RedisProcess.start(['--appendonly', 'yes', '--appendfsync', 'always'])
  const prefix = uniquePrefix('faults')
  const opts = { prefix, commandTimeoutMs: COMMAND_TIMEOUT_MS }
  rate = await RedisRateLimitStore.connect(server.url, opts)
  sessions = await RedisSessionStore.connect(server.url, { ...opts, ttlSeconds: 600 })
  broadcaster = await RedisInvalidationBroadcaster.connect(server.url, { channel: `kavach:${prefix}:chan`, commandTimeoutMs: COMMAND_TIMEOUT_MS })
  gate = Gate.fromObject(POLICY, { rateStore: rate, sessionStore: sessions, broadcaster, enableDrift: false })
}, 30_000)

afterAll(async () => {
  await gate?.close()
  rate?.close()
  sessions?.close()
  broadcaster?.close()
  await server?.destroy()
  console.log(
    `faults: tried ${tally.tried}, refused ${tally.refused}, permitted ${tally.permitted}, ` +
      `wrongly permitted ${tally.wronglyPermitted}, slowest call ${tally.slowest} ms`,
  )
})

describe('a Redis outage fails closed and recovers', () => {
  test('killed mid-load, then restarted', async () => {
    for (let i = 0; i < 20; i++) expect((await timed()).isPermit).toBe(true)
    // Kill the server while 40 evaluations are in flight: each either completed before the
    // crash or refuses; none permits without a counted hit.
    const inFlight = Promise.all(Array.from({ length: 40 }, () => timed()))
    await server.kill()
    const mid = await inFlight
    expect(mid.every((v) => v.isPermit || v.code === 'STORE_UNAVAILABLE')).toBe(true)
    await duringOutage(30)
    await server.restart()
    await recovered()
  }, 60_000)

  test('CLIENT PAUSE: commands time out and refuse, then resume', async () => {
    const admin = ioredis(server.url)
    await admin.call('CLIENT', 'PAUSE', '2500', 'ALL')
    await duringOutage(20)
    await new Promise((r) => setTimeout(r, 2_600))
    await recovered()
    admin.disconnect()
  }, 30_000)

  test('CLIENT KILL: the gate and the subscription reconnect by themselves', async () => {
    const heard: InvalidationScope[] = []
    const handle = spawnInvalidationListener(broadcaster, (s) => {
      heard.push(s)
    })
    const admin = ioredis(server.url)
    await admin.call('CLIENT', 'KILL', 'SKIPME', 'yes')
    await recovered()
    // The subscriber notices the dropped connection and resubscribes with backoff; a scope
    // published afterwards (here by hand, as another replica would) reaches the listener.
    const until = Date.now() + 15_000
    while (heard.length === 0 && Date.now() < until) {
      await admin.publish(
        broadcaster.channel,
        JSON.stringify({ target_kind: 'principal', target_id: 'agent-x', reason: 'test', evaluator: 'manual', origin: 'ioredis' }),
      )
      await new Promise((r) => setTimeout(r, 100))
    }
    expect(heard[0]).toEqual({ targetKind: 'principal', targetId: 'agent-x', reason: 'test', evaluator: 'manual' })
    expect(broadcaster.isSubscribed).toBe(true)
    handle.abort()
    admin.disconnect()
  }, 30_000)

  test('after all of it, the limit still holds exactly', async () => {
    const r = ioredis(server.url)
    await Promise.all(Array.from({ length: 100 }, () => timed()))
    // Every permit was a counted hit with count ≤ LIMIT; hits whose replies were lost to a
    // fault count too, so permits can only fall short of the limit, never exceed it.
    expect(tally.permitted).toBeLessThanOrEqual(LIMIT)
    const v = await gate.evaluateAsync({ ...REFUND, sessionId: 'fresh-session' })
    expect(v.code).toBe('RATE_LIMIT_EXCEEDED')
    tally.wronglyPermitted += Math.max(0, tally.permitted - LIMIT)
    expect(tally.wronglyPermitted).toBe(0)
    r.disconnect()
  }, 30_000)
})

describe('connect failures', () => {
  let blackHole: Server
  const sockets: Socket[] = []
  let blackHolePort = 0
  beforeAll(async () => {
    // Accepts TCP connections and never answers a byte.
    blackHole = createServer((s) => sockets.push(s))
    await new Promise<void>((r) => blackHole.listen(0, '127.0.0.1', () => r()))
    const addr = blackHole.address()
    blackHolePort = typeof addr === 'object' && addr !== null ? addr.port : 0
  })
  afterAll(async () => {
    for (const s of sockets) s.destroy()
    await new Promise((r) => blackHole.close(r))
  })

  test('a wrong URL is an InvalidArgumentError, a closed port StoreUnavailableError', async () => {
    await expect(RedisRateLimitStore.connect('http://127.0.0.1:6379')).rejects.toBeInstanceOf(InvalidArgumentError)
    await expect(RedisSessionStore.connect('redis://127.0.0.1:6379', { ttlSeconds: 60, prefix: 'has space' })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    })
    const port = await sparePort()
    const err = await RedisRateLimitStore.connect(`redis://127.0.0.1:${port}`).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(StoreUnavailableError)
    expect((err as Error).message).toMatch(/^redis unavailable: /)
  })

  test('a black-hole address gives up after 5 s with the documented message', async () => {
    const t0 = Date.now()
    const [a, b] = await Promise.all([
      RedisRateLimitStore.connect(`redis://127.0.0.1:${blackHolePort}`).catch((e: unknown) => e),
      RedisInvalidationBroadcaster.connect(`redis://127.0.0.1:${blackHolePort}`).catch((e: unknown) => e),
    ])
    for (const e of [a, b]) {
      expect(e).toBeInstanceOf(StoreUnavailableError)
      expect((e as Error).message).toBe('redis connect timed out after 5s')
    }
    expect(Date.now() - t0).toBeLessThan(8_000)
  }, 20_000)
})
