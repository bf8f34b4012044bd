// Replicas sharing one Redis (and a 3-master Redis Cluster): exact rate limits across Node
// processes, sessions revoked everywhere, clock skew, and the keys / TTLs / pub-sub JSON as
// seen by an independent client (ioredis). Needs the Redis on 127.0.0.1:6379.

import { spawnSync } from 'node:child_process'
import { join } from 'node:path'

import { describe, expect, test } from 'vitest'

import {
  Gate,
  KavachKeyPair,
  PqTokenSigner,
  RedisInvalidationBroadcaster,
  RedisRateLimitStore,
  RedisSessionStore,
  SignedAuditChain,
  StoreUnavailableError,
  SyncNotSupportedError,
  spawnInvalidationListener,
  type InvalidationScope,
  type PolicySetInput,
} from '../index'
import { REDIS_URL, Replica, ioredis, startCluster, prefixesCleanedAfterAll } from './fixtures/redis-helpers'

const LIMIT_100: PolicySetInput = {
  policies: [
    {
      name: 'refunds_per_hour',
      effect: 'permit',
      conditions: [{ action: 'issue_refund' }, { rate_limit: { max: 100, window: '1h' } }],
    },
  ],
}

const REFUND = { principalId: 'agent-bot', principalKind: 'agent' as const, actionName: 'issue_refund' }

const prefix = prefixesCleanedAfterAll()

async function exactlyOnce(url: string, p: string, cluster = false): Promise<Record<string, number>> {
  const replicas = [new Replica(), new Replica(), new Replica(), new Replica()]
  try {
    await Promise.all(replicas.map((r) => r.request('init', { url, prefix: p, policy: LIMIT_100, rate: true, cluster })))
    // 4 processes × 500 concurrent evaluateAsync = 2,000 attempts at once.
    const results = await Promise.all(replicas.map((r) => r.request('burst', { n: 500, ctx: REFUND })))
    const total: Record<string, number> = {}
    for (const r of results) {
      for (const [k, n] of Object.entries(r.counts as Record<string, number>)) total[k] = (total[k] ?? 0) + n
    }
    return total
  } finally {
    await Promise.all(replicas.map((r) => r.close()))
  }
}

describe('rate limits across replicas', () => {
  test('4 processes, 2,000 concurrent attempts, limit 100: exactly 100 permits', async () => {
    const p = prefix('exact')
    const total = await exactlyOnce(REDIS_URL, p)
    console.log('standalone: 2000 tried', total)
    expect(total).toEqual({ permit: 100, RATE_LIMIT_EXCEEDED: 1900 })

    // The counter as an independent client sees it: one hash-tagged list of server
    // timestamps (µs, oldest first), expiring with the window.
    const r = ioredis()
    const keys = await r.keys(`kavach:${p}:rl:*`)
    expect(keys).toHaveLength(1)
    expect(keys[0]).toMatch(new RegExp(`^kavach:${p}:rl:\\{.+\\}$`))
    expect(await r.type(keys[0])).toBe('list')
    // Bounded: only the newest max + 1 hits are kept, whatever the load.
    const stamps = (await r.lrange(keys[0], 0, -1)).map(Number)
    expect(stamps).toHaveLength(101)
    expect([...stamps].sort((a, b) => a - b)).toEqual(stamps)
    const [serverSeconds] = await r.time()
    expect(Math.abs(stamps[0]! / 1e6 - Number(serverSeconds))).toBeLessThan(120)
    const pttl = await r.pttl(keys[0])
    expect(pttl).toBeGreaterThan(3_500_000)
    expect(pttl).toBeLessThanOrEqual(3_601_000)
    r.disconnect()
  }, 120_000)

  test('the same on a 3-master Redis Cluster started for this test', async () => {
    const cluster = await startCluster()
    try {
      const total = await exactlyOnce(cluster.url, prefix('cluster'), true)
      console.log('cluster: 2000 tried', total)
      expect(total).toEqual({ permit: 100, RATE_LIMIT_EXCEEDED: 1900 })
    } finally {
      await cluster.destroy()
    }
  }, 120_000)

  test('replicas whose clocks differ by 10 minutes still admit exactly the limit', async () => {
    const p = prefix('skew')
    const policy: PolicySetInput = {
      policies: [{ name: 'per_minute', effect: 'permit', conditions: [{ action: 'issue_refund' }, { rate_limit: { max: 50, window: '1m' } }] }],
    }
    const ahead = new Replica()
    const behind = new Replica()
    try {
      await ahead.request('init', { url: REDIS_URL, prefix: p, policy, rate: true, offsetMs: 300_000 })
      await behind.request('init', { url: REDIS_URL, prefix: p, policy, rate: true, offsetMs: -300_000 })
      const [a, b] = await Promise.all([
        ahead.request('burst', { n: 100, ctx: REFUND }),
        behind.request('burst', { n: 100, ctx: REFUND }),
      ])
      const ca = a.counts as Record<string, number>
      const cb = b.counts as Record<string, number>
      console.log('clock skew ±5 min:', ca, cb)
      expect((ca.permit ?? 0) + (cb.permit ?? 0)).toBe(50)
      expect((ca.RATE_LIMIT_EXCEEDED ?? 0) + (cb.RATE_LIMIT_EXCEEDED ?? 0)).toBe(150)
    } finally {
      await Promise.all([ahead.close(), behind.close()])
    }
  }, 60_000)
})

const SESSIONS: PolicySetInput = {
  policies: [{ name: 'support', effect: 'permit', conditions: [{ action: 'lookup_order' }] }],
}

describe('signing and audit on a Redis-backed gate', () => {
  test('concurrent signed, audited evaluations: every permit verifies, the chain holds each verdict', async () => {
    const p = prefix('signed')
    const kp = KavachKeyPair.generate()
    const signer = PqTokenSigner.fromKeypairHybrid(kp)
    const chain = new SignedAuditChain(kp)
    const store = await RedisRateLimitStore.connect(REDIS_URL, { prefix: p })
    const policy: PolicySetInput = {
      policies: [{ name: 'refunds', effect: 'permit', conditions: [{ action: 'issue_refund' }, { rate_limit: { max: 30, window: '1h' } }] }],
    }
    const gate = Gate.fromObject(policy, { rateStore: store, tokenSigner: signer, audit: chain })
    try {
      // Signing and the audit append run off the runtime's single worker while the Redis
      // calls of the other evaluations continue (crates/kavach-node/src/blocking.rs).
      const verdicts = await Promise.all(Array.from({ length: 40 }, () => gate.evaluateAsync(REFUND)))
      const permits = verdicts.filter((v) => v.isPermit)
      expect(permits).toHaveLength(30)
      expect(verdicts.filter((v) => v.code === 'RATE_LIMIT_EXCEEDED')).toHaveLength(10)
      for (const v of permits) signer.verify(v.permitToken!, v.signature!)
      expect(new Set(permits.map((v) => v.tokenId)).size).toBe(30)
      expect(chain.length).toBe(40)
      expect(chain.verify(kp.publicKeys())).toBe(40)
    } finally {
      await gate.close()
      store.close()
    }
  }, 60_000)
})

describe('sessions across replicas', () => {
  test('B detects drift, A refuses within 200 ms, a replica started later refuses too', async () => {
    const p = prefix('sess')
    const channel = `kavach:${p}:invalidation`
    const base = { url: REDIS_URL, prefix: p, policy: SESSIONS, session: true, channel }
    const ctx = (ip: string) => ({ principalId: 'u-1', principalKind: 'user', actionName: 'lookup_order', sessionId: 'sess-42', ip })

    // Watch the channel with an independent client.
    const sub = ioredis()
    const messages: string[] = []
    await sub.subscribe(channel)
    sub.on('message', (_c: string, m: string) => messages.push(m))

    const a = new Replica()
    const b = new Replica()
    // A replica with in-process sessions: it can only learn of the revocation from pub/sub.
    const c = new Replica()
    try {
      await Promise.all([a.request('init', base), b.request('init', base), c.request('init', { ...base, session: false })])
      expect((await a.request('eval', { ctx: ctx('10.0.0.1') })).verdict).toMatchObject({ kind: 'permit' })
      expect((await c.request('eval', { ctx: ctx('10.0.0.1') })).verdict).toMatchObject({ kind: 'permit' })

      const drift = (await b.request('eval', { ctx: ctx('203.0.113.9') })).verdict as Record<string, string>
      expect(drift.kind).toBe('invalidate')
      expect(drift.evaluator).toBe('drift')

      await new Promise((r) => setTimeout(r, 200))
      const onA = (await a.request('eval', { ctx: ctx('10.0.0.1') })).verdict
      expect(onA).toMatchObject({ kind: 'refuse', code: 'SESSION_INVALID' })
      const onC = (await c.request('eval', { ctx: ctx('10.0.0.1') })).verdict
      expect(onC).toMatchObject({ kind: 'refuse', code: 'SESSION_INVALID' })

      const late = new Replica()
      try {
        await late.request('init', base)
        const onLate = (await late.request('eval', { ctx: ctx('10.0.0.1') })).verdict
        expect(onLate).toMatchObject({ kind: 'refuse', code: 'SESSION_INVALID' })
      } finally {
        await late.close()
      }

      // What an independent client sees: the session hash with its TTL, and the JSON message.
      const r = ioredis()
      const key = `kavach:${p}:sess:{sess-42}`
      const hash = await r.hgetall(key)
      expect(hash.origin_ip).toBe('10.0.0.1')
      expect(hash.invalidated).toBeTruthy()
      expect(Number(hash.started_at)).toBeGreaterThan(1_700_000_000)
      // Revoked: kept 24 h whatever the 600 s idle TTL, so the id cannot start afresh.
      const ttl = await r.ttl(key)
      expect(ttl).toBeGreaterThan(86_000)
      expect(ttl).toBeLessThanOrEqual(86_400)
      r.disconnect()

      expect(messages.length).toBeGreaterThanOrEqual(1)
      const msg = JSON.parse(messages[0]) as Record<string, string | number>
      expect(Object.keys(msg).sort()).toEqual(['evaluator', 'expires_at_ms', 'origin', 'reason', 'target_id', 'target_kind'])
      expect(msg).toMatchObject({ target_kind: 'session', target_id: 'sess-42', evaluator: 'drift' })
      expect(msg.origin).toMatch(/^[0-9a-f]{16}$/)
      // The scope stays in the revocation log for the default 3600 s (Redis server clock).
      expect(Math.abs((msg.expires_at_ms as number) - Date.now() - 3_600_000)).toBeLessThan(60_000)
    } finally {
      sub.disconnect()
      await Promise.all([a.close(), b.close(), c.close()])
    }
  }, 60_000)
})

describe('session idle time', () => {
  test('sessionIdleSeconds with a RedisSessionStore is refused: the store keeps sessions for its own ttlSeconds', async () => {
    const sessionStore = await RedisSessionStore.connect(REDIS_URL, { ttlSeconds: 600, prefix: prefix('idle') })
    try {
      const err = (() => {
        try {
          Gate.fromObject(SESSIONS, { sessionStore, sessionIdleSeconds: 86_400 })
        } catch (e) {
          return e as { code?: string; message: string }
        }
        return undefined
      })()
      expect(err?.code).toBe('INVALID_OPTIONS')
      expect(err?.message).toMatch(/sessionIdleSeconds .* ttlSeconds/)
    } finally {
      await sessionStore.close()
    }
  })
})

describe('the public classes', () => {
  test('connect, publish, inspect and close', async () => {
    const p = prefix('api')
    const rate = await RedisRateLimitStore.connect(REDIS_URL, { prefix: p })
    const sessions = await RedisSessionStore.connect(REDIS_URL, { ttlSeconds: 60, prefix: p })
    const channel = `kavach:${p}:chan`
    const bc = await RedisInvalidationBroadcaster.connect(REDIS_URL, { channel })
    expect(bc.channel).toBe(channel)
    expect(bc.isSubscribed).toBe(true)
    expect(rate.keyFor('x')).toBe(`kavach:${p}:rl:{x}`)
    expect(sessions.keyFor('s')).toBe(`kavach:${p}:sess:{s}`)
    expect(sessions.ttlSeconds).toBe(60)

    // A manual session revocation is written to the attached store before it is published.
    bc.attachSessionStore(sessions)
    await bc.publish('session', 's-manual', 'operator revoked', 'manual')
    const r = ioredis()
    expect(await r.hget(`kavach:${p}:sess:{s-manual}`, 'invalidated')).toBe('operator revoked')
    r.disconnect()
    await expect(bc.publish('team' as 'role', 'x', 'y')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' })

    const gate = Gate.fromObject(LIMIT_100, { rateStore: rate, sessionStore: sessions, broadcaster: bc })
    expect(gate.supportsSync).toBe(false)
    expect(() => gate.evaluate(REFUND)).toThrow(SyncNotSupportedError)
    expect(() => gate.evaluate(REFUND)).toThrow(/evaluateAsync/)
    expect((await gate.evaluateAsync(REFUND)).isPermit).toBe(true)
    await gate.close()

    rate.close()
    sessions.close()
    bc.close()
    expect(rate.isClosed && sessions.isClosed && bc.isClosed).toBe(true)
    // A closed store refuses (fail closed), it never permits.
    const after = Gate.fromObject(LIMIT_100, { rateStore: rate })
    const v = await after.evaluateAsync(REFUND)
    expect(v.isRefuse).toBe(true)
    expect(v.code).toBe('STORE_UNAVAILABLE')
    await expect(bc.publish('session', 's', 'r')).rejects.toBeInstanceOf(StoreUnavailableError)
  })
})

describe('listeners and process lifetime', () => {
  test('spawnInvalidationListener hears scopes published by another replica', async () => {
    const p = prefix('listen')
    const channel = `kavach:${p}:chan`
    const mine = await RedisInvalidationBroadcaster.connect(REDIS_URL, { channel })
    const other = await RedisInvalidationBroadcaster.connect(REDIS_URL, { channel })
    const heard: InvalidationScope[] = []
    const handle = spawnInvalidationListener(mine, (s) => {
      heard.push(s)
    })
    expect(mine.subscriberCount).toBe(1)
    await other.publish('principal', 'agent-7', 'key leaked', 'security')
    const until = Date.now() + 5_000
    while (heard.length === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20))
    expect(heard).toEqual([{ targetKind: 'principal', targetId: 'agent-7', reason: 'key leaked', evaluator: 'security' }])
    handle.abort()
    mine.close()
    other.close()
  })

  test('after close(), a process using every Redis class exits by itself', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(__dirname, 'fixtures/redis-exit.ts'), REDIS_URL, prefix('exit')], {
      cwd: join(__dirname, '..'),
      encoding: 'utf8',
      timeout: 20_000,
    })
    expect(r.error).toBeUndefined()
    expect(r.status).toBe(0)
    expect(r.stdout.trim()).toBe('permit')
  }, 30_000)
})

describe('closing a gate with evaluations in flight', () => {
  test('every pending evaluateAsync settles (no hang) and none permits past the limit', async () => {
    const p = prefix('close-pending')
    const rateStore = await RedisRateLimitStore.connect(REDIS_URL, { prefix: p })
    const gate = Gate.fromObject(LIMIT_100, { rateStore, enableDrift: false })
    const pending = Array.from({ length: 300 }, () => gate.evaluateAsync(REFUND))
    await gate.close()
    const settled = await Promise.allSettled(pending)
    const permits = settled.filter((s) => s.status === 'fulfilled' && s.value.isPermit).length
    const refusals = settled.filter((s) => s.status === 'fulfilled' && !s.value.isPermit).length
    const rejections = settled.filter((s) => s.status === 'rejected').length
    expect(permits + refusals + rejections).toBe(300)
    expect(permits).toBeLessThanOrEqual(100)
    rateStore.close()
  })
})

describe('drift on a burst of concurrent calls in one session', () => {
  test('3 processes, 450 concurrent calls: behaviour drift still stops the session after 100 actions in its first minute', async () => {
    const p = prefix('burst')
    const config = { url: REDIS_URL, prefix: p, policy: SESSIONS, session: true }
    const ctx = { principalId: 'u-7', principalKind: 'user', actionName: 'lookup_order', sessionId: 'burst-1', ip: '10.0.0.1' }
    const replicas = [new Replica(), new Replica(), new Replica()]
    try {
      await Promise.all(replicas.map((r) => r.request('init', config)))
      const replies = await Promise.all(replicas.map((r) => r.request('burst', { n: 150, ctx })))
      const total: Record<string, number> = {}
      for (const reply of replies) {
        for (const [k, n] of Object.entries(reply.counts as Record<string, number>)) total[k] = (total[k] ?? 0) + n
      }
      console.log('450 concurrent calls in one session:', total)
      // Each permit is judged on the session's count just before it: no more than the
      // 100 actions a minute drift allows (plus the one that reaches it) get through.
      expect(total.permit).toBeGreaterThan(0)
      expect(total.permit).toBeLessThanOrEqual(101)
      // The rest: the Invalidate drift issues and the refusals of the session it revoked
      // (both carry SESSION_INVALID).
      expect(total).toEqual({ permit: total.permit, SESSION_INVALID: 450 - total.permit! })
    } finally {
      await Promise.all(replicas.map((r) => r.close()))
    }
  }, 120_000)
})
