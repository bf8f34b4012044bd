// gate.explainAsync on Redis stores (real Redis): the rate-limit windows and sessions are read
// from Redis, so a replica explains what another counted; nothing is counted, created or
// refreshed; the verdict is the one evaluateAsync gives next. gate.explain (sync) on such a
// gate throws SYNC_NOT_SUPPORTED naming explainAsync.
import Redis from 'ioredis'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'

import { Gate, RedisRateLimitStore, RedisSessionStore, type EvaluateOptions, type Explanation, type Verdict } from '../index'
import { REDIS_URL, uniquePrefix } from './fixtures/redis-helpers'

const POLICY = {
  policies: [
    { name: 'agent_refunds', effect: 'permit' as const, conditions: [{ identity_kind: 'agent' as const }, { action: 'issue_refund' }, { param_max: { field: 'amount', max: 1000 } }, { rate_limit: { max: 2, window: '24h' } }] },
  ],
}
const agent = (amount: number, sessionId?: string): EvaluateOptions => ({ principalId: 'agent-7', principalKind: 'agent', actionName: 'issue_refund', params: { amount }, ...(sessionId === undefined ? {} : { sessionId }) })
const rateCheck = (e: Explanation) => e.steps.find((s) => s.subject === 'agent_refunds')!.checks.find((c) => c.condition === 'rate_limit')!
/** The verdict without its timing ("a slot frees up in 86399s" ticks between two calls). */
const summary = (v: Verdict) => ({ kind: v.kind, code: v.code, evaluator: v.evaluator, reason: v.reason?.replace(/\d+s$/, 'Ns') })

const redis = new Redis(REDIS_URL)
const prefix = uniquePrefix('explain')
const opened: Array<{ close(): void | Promise<void> }> = []

async function replica(maxSessionActions?: number): Promise<Gate> {
  const rateStore = await RedisRateLimitStore.connect(REDIS_URL, { prefix })
  const sessionStore = await RedisSessionStore.connect(REDIS_URL, { ttlSeconds: 600, prefix })
  const gate = Gate.fromObject(POLICY, { rateStore, sessionStore, ...(maxSessionActions === undefined ? {} : { maxSessionActions }) })
  opened.push(gate, rateStore, sessionStore)
  return gate
}

/** Every key of this suite with its type, length and TTL: what "no state changed" compares. */
async function snapshot(): Promise<Record<string, string>> {
  const out: Record<string, string> = {}
  for (const key of (await redis.keys(`kavach:${prefix}:*`)).sort()) {
    const type = await redis.type(key)
    const content = type === 'list' ? (await redis.lrange(key, 0, -1)).join(',') : JSON.stringify(await redis.hgetall(key))
    // TTLs only fall while nothing touches a key: rounded to the minute, a refresh shows.
    out[key] = `${type} ${content} ttl~${Math.round((await redis.pttl(key)) / 60_000)}`
  }
  return out
}

beforeAll(async () => {
  await redis.ping()
})

afterAll(async () => {
  for (const o of opened) await o.close()
  const keys = await redis.keys(`kavach:${prefix}:*`)
  if (keys.length > 0) await redis.del(...keys)
  redis.disconnect()
})

describe('gate.explainAsync on Redis stores', () => {
  test('gate.explain (sync) throws SYNC_NOT_SUPPORTED and names explainAsync', async () => {
    const gate = await replica()
    expect(() => gate.explain(agent(10))).toThrow(expect.objectContaining({ code: 'SYNC_NOT_SUPPORTED', message: expect.stringContaining('explainAsync') }))
  })

  test('reads the window another replica counted, counts nothing, and agrees with evaluateAsync', async () => {
    const a = await replica()
    const b = await replica()
    const fresh = await b.explainAsync(agent(10))
    expect(fresh.verdict.kind).toBe('permit')
    expect(rateCheck(fresh)).toEqual({ condition: 'rate_limit', detail: 'rate 0/2 in 24h: this call fits', holds: true })
    expect(await snapshot()).toEqual({})

    expect((await a.evaluateAsync(agent(10))).kind).toBe('permit')
    const one = await b.explainAsync(agent(10))
    expect(rateCheck(one).detail).toBe('rate 1/2 in 24h: this call fits')
    expect((await a.evaluateAsync(agent(10))).kind).toBe('permit')

    const before = await snapshot()
    expect(Object.keys(before)).toHaveLength(1)
    for (let i = 0; i < 5; i++) {
      const full = await b.explainAsync(agent(10))
      expect(rateCheck(full)).toMatchObject({ condition: 'rate_limit', holds: false, detail: expect.stringMatching(/^rate 2\/2 in 24h, frees in /) })
      expect(full.verdict.code).toBe('RATE_LIMIT_EXCEEDED')
    }
    expect(await snapshot()).toEqual(before)
    const explained = await b.explainAsync(agent(10))
    expect(summary(explained.verdict)).toEqual(summary(await b.evaluateAsync(agent(10))))
  })

  test('sessions: first sight creates nothing; a known session shows its count; a revoked one refuses', async () => {
    const a = await replica(2)
    const b = await replica(2)
    const sid = `${prefix}-s1`
    // A different principal keeps the rate limit of the test above out of the way.
    const ctx = { ...agent(5, sid), principalId: 'agent-9' }
    const first = await b.explainAsync(ctx)
    expect(first.steps.find((s) => s.evaluator === 'session')!.outcome).toContain('first sight')
    expect(await redis.exists(`kavach:${prefix}:sess:{${sid}}`)).toBe(0)

    expect((await a.evaluateAsync(ctx)).kind).toBe('permit')
    const known = await b.explainAsync(ctx)
    const session = known.steps.find((s) => s.evaluator === 'session')!
    expect(session.outcome).toBe('known')
    expect(session.notes[0]).toMatch(/^started at \d+ \(unix s\), 1 permitted action\(s\)$/)

    expect((await a.evaluateAsync(ctx)).kind).toBe('permit')
    // The rate limit (2 per 24h) and the session cap (2) are both reached: the rate limit decides first.
    const capped = await b.explainAsync(ctx)
    expect(summary(capped.verdict)).toEqual(summary(await a.evaluateAsync(ctx)))

    const other = `${prefix}-s2`
    await a.revoke({ targetKind: 'session', targetId: other, reason: 'stolen' })
    const revoked = await b.explainAsync({ ...agent(5, other), principalId: 'agent-10' })
    expect(revoked.verdict).toMatchObject({ kind: 'refuse', code: 'SESSION_INVALID' })
    expect(revoked.verdict.reason).toContain('stolen')
  })

  test('a bad context rejects with the error evaluateAsync gives', async () => {
    const gate = await replica()
    const bad = { principalId: '', principalKind: 'agent', actionName: 'x' } as EvaluateOptions
    const code = await gate.evaluateAsync(bad).then(
      () => 'resolved',
      (e: { code?: string }) => e.code,
    )
    await expect(gate.explainAsync(bad)).rejects.toMatchObject({ code })
  })
})

describe('a session start in the store further ahead than maxClockSkewSeconds', () => {
  test('refuses STORE_UNAVAILABLE in evaluateAsync and explainAsync, as the same start in the context refuses', async () => {
    const gate = await replica()
    // Its own principal: the suite's agent-7 has used its rate limit.
    const call = (sessionId: string): EvaluateOptions => ({ ...agent(10, sessionId), principalId: 'agent-skew' })
    const now = Math.floor(Date.now() / 1000)
    const ahead = now + 365 * 86_400
    await redis.hset(`kavach:${prefix}:sess:{ahead}`, 'started_at', String(ahead), 'action_count', '0')
    await redis.hset(`kavach:${prefix}:sess:{skewed}`, 'started_at', String(now + 60), 'action_count', '0')
    const v = await gate.evaluateAsync(call('ahead'))
    expect(summary(v)).toMatchObject({ kind: 'refuse', code: 'STORE_UNAVAILABLE', evaluator: 'session_store' })
    expect(v.reason).toMatch(new RegExp(`^session store holds started_at ${ahead} for session 'ahead', \\d+s in the future \\(more than the 300s clock skew`))
    expect(summary((await gate.explainAsync(call('ahead'))).verdict)).toEqual(summary(v))
    // Within the allowed skew (a replica whose clock runs a minute ahead), the session is used.
    expect((await gate.evaluateAsync(call('skewed'))).isPermit).toBe(true)
    // The context's own start overrides the stored one, so the stored one is not read.
    expect((await gate.evaluateAsync({ ...call('ahead'), sessionStartedAt: now })).isPermit).toBe(true)
    expect((await gate.evaluateAsync({ ...call('fresh'), sessionStartedAt: ahead })).code).toBe('INVALID_CONTEXT')
  })
})
