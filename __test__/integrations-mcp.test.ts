// McpKavachMiddleware: the earlier Node SDK's MCP middleware on the real gate, with in-process,
// custom and Redis session stores (real Redis).

import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js'
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import Redis from 'ioredis'
import { afterAll, describe, expect, test } from 'vitest'
import { z } from 'zod'

import {
  Gate,
  InMemoryInvalidationBroadcaster,
  InMemorySessionStore,
  InvalidArgumentError,
  InvalidOptionsError,
  Invalidated,
  KavachInvalidated,
  KavachKeyPair,
  KavachRefused,
  McpKavachMiddleware,
  PqTokenSigner,
  RedisRateLimitStore,
  RedisSessionStore,
  Refused,
  spawnInvalidationListener,
  type InvalidationScope,
  type McpCaller,
  type SessionStore,
  type Verdict,
} from '../index'
import { REDIS_URL, uniquePrefix } from './fixtures/redis-helpers'

const POLICY = {
  policies: [
    {
      name: 'agents_refund',
      effect: 'permit' as const,
      conditions: [{ identity_kind: 'agent' as const }, { identity_role: 'support' }, { action: 'refund' }, { param_max: { field: 'amount', max: 1000 } }],
    },
    { name: 'users_lookup', effect: 'permit' as const, conditions: [{ identity_kind: 'user' as const }, { action: 'lookup' }] },
  ],
}
const bot: McpCaller = { callerId: 'agent-1', roles: ['support'] }

describe('McpKavachMiddleware: evaluate, check, guard', () => {
  const gate = Gate.fromObject(POLICY)
  const mw = new McpKavachMiddleware(gate)

  test('evaluateToolCall: the tool name is the action, numbers and strings are forwarded, callerKind defaults to agent', async () => {
    expect((await mw.evaluateToolCall('refund', { amount: 500, order: 'A-1' }, bot)).kind).toBe('permit')
    const over = await mw.evaluateToolCall('refund', { amount: 5000 }, bot)
    expect(over.kind).toBe('refuse')
    expect(over.code).toBe('NO_POLICY_MATCH')
    // A non-scalar param is dropped, so the amount cap still applies to the one that is forwarded.
    expect((await mw.evaluateToolCall('refund', { amount: 5000, note: { nested: true } }, bot)).isPermit).toBe(false)
    // `agents_refund` requires kind agent: the default. A user caller is refused; lookup is for users.
    expect((await mw.evaluateToolCall('refund', { amount: 1 }, { ...bot, callerKind: 'user' })).isPermit).toBe(false)
    expect((await mw.evaluateToolCall('lookup', {}, { callerId: 'u', callerKind: 'user' })).isPermit).toBe(true)
  })

  test('evaluateToolCall never throws for a refusal; a caller without an id rejects with InvalidArgumentError', async () => {
    await expect(mw.evaluateToolCall('delete_everything', {}, bot)).resolves.toMatchObject({ kind: 'refuse', code: 'NO_POLICY_MATCH' })
    await expect(mw.evaluateToolCall('refund', {}, { callerId: '' })).rejects.toBeInstanceOf(InvalidArgumentError)
    await expect(mw.evaluateToolCall('refund', {}, undefined as unknown as McpCaller)).rejects.toThrow(/caller must be an object/)
  })

  test('the context fields beyond the earlier caller (originIp, device, resource...) reach the gate', async () => {
    // Strict IP drift: origin and current IP differ, so an otherwise permitted call is invalidated.
    const v = await mw.evaluateToolCall('refund', { amount: 1 }, { ...bot, sessionId: 'ctx-1', ip: '10.0.0.2', originIp: '10.0.0.1' })
    expect(v.kind).toBe('invalidate')
    expect(v.evaluator).toBe('drift')
  })

  test('checkToolCall throws Refused (the same class as KavachRefused), permits silently', async () => {
    await expect(mw.checkToolCall('refund', { amount: 10 }, bot)).resolves.toBeUndefined()
    const err = await mw.checkToolCall('refund', { amount: 10_000 }, bot).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(Refused)
    expect(err).toBeInstanceOf(KavachRefused)
    expect((err as Refused).code).toBe('NO_POLICY_MATCH')
  })

  test('guardTool: the handler runs only on Permit; the override is merged over the default caller', async () => {
    const ran: number[] = []
    const refund = mw.guardTool('refund', async (p: { amount: number }) => {
      ran.push(p.amount)
      return `refunded ${p.amount}`
    }, bot)
    await expect(refund({ amount: 100 })).resolves.toBe('refunded 100')
    await expect(refund({ amount: 2000 })).rejects.toBeInstanceOf(Refused)
    // Only roles are overridden: callerId and kind stay the default caller's, and no role matches.
    await expect(refund({ amount: 100 }, { roles: ['intern'] })).rejects.toBeInstanceOf(Refused)
    const userRefund = mw.guardTool('lookup', (p: { id: string }) => {
      ran.push(-1)
      return p.id
    }, bot)
    await expect(userRefund({ id: 'x' })).rejects.toBeInstanceOf(Refused)
    await expect(userRefund({ id: 'x' }, { callerKind: 'user' })).resolves.toBe('x')
    expect(ran).toEqual([100, -1])
  })
})

describe('McpKavachMiddleware: what the model reads through a real MCP server', () => {
  type ToolResult = { content: { type: string; text: string }[]; isError?: boolean }

  /** `guardTool('refund')` as a tool of a real McpServer, called by a real client; `errors` collects what checkToolCall threw. */
  async function served(mw: McpKavachMiddleware, caller: McpCaller) {
    const ran: number[] = []
    const errors: unknown[] = []
    const refund = mw.guardTool('refund', async (p: { amount: number }) => {
      ran.push(p.amount)
      return { content: [{ type: 'text' as const, text: `refunded ${p.amount}` }] }
    }, caller)
    const server = new McpServer({ name: 'guarded', version: '1.0.0' })
    server.registerTool('refund', { inputSchema: { amount: z.number() } }, (args) =>
      refund(args).catch((e: unknown) => {
        errors.push(e)
        throw e
      }),
    )
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair()
    await server.connect(serverSide)
    const client = new Client({ name: 'c', version: '1.0.0' })
    await client.connect(clientSide)
    const call = async (amount: number) => (await client.callTool({ name: 'refund', arguments: { amount } })) as ToolResult
    return { call, ran, errors, close: () => client.close() }
  }

  test('a failing session store: the model reads a generic STORE_UNAVAILABLE reason; the error and onVerdict keep the full one', async () => {
    const seen: Verdict[] = []
    const gate = Gate.fromObject(POLICY, { onVerdict: (v) => void seen.push(v) })
    const sessionStore: SessionStore = {
      isInvalidated: () => Promise.reject(new Error('connect ECONNREFUSED 10.20.0.5:6379 (redis-prod-primary)')),
      invalidate: () => undefined,
    }
    const s = await served(new McpKavachMiddleware(gate, { sessionStore }), { ...bot, sessionId: 'outage-1' })
    try {
      const r = await s.call(5)
      expect(r.isError).toBe(true)
      expect(r.content[0]!.text).toContain('STORE_UNAVAILABLE')
      expect(r.content[0]!.text).toContain('a store the gate depends on is unavailable; the tool did not run')
      expect(r.content[0]!.text).not.toMatch(/10\.20\.0\.5|ECONNREFUSED|redis-prod/)
      expect(s.ran).toEqual([])
      expect((s.errors[0] as Refused).verdict?.reason).toContain('10.20.0.5:6379')
      expect(seen.map((v) => [v.code, v.reason])).toEqual([['STORE_UNAVAILABLE', expect.stringContaining('redis-prod-primary')]])
      // A policy outcome keeps its reason.
      const policy = await new McpKavachMiddleware(gate).checkToolCall('refund', { amount: 10_000 }, bot).catch((e: unknown) => e)
      expect((policy as Refused).code).toBe('NO_POLICY_MATCH')
      expect((policy as Refused).message).toContain((policy as Refused).verdict!.reason!)
    } finally {
      await s.close()
      await gate.close()
    }
  })

  test('a permit that cannot be signed (an expired key): the model reads a generic IDENTITY_FAILED reason', async () => {
    const seen: Verdict[] = []
    const signer = PqTokenSigner.fromKeypairHybrid(KavachKeyPair.generateWithExpiry(0))
    const gate = Gate.fromObject(POLICY, { tokenSigner: signer, onVerdict: (v) => void seen.push(v) })
    const s = await served(new McpKavachMiddleware(gate), bot)
    try {
      const r = await s.call(5)
      expect(r.isError).toBe(true)
      expect(r.content[0]!.text).toContain('the gate could not sign or verify identity for this call; the tool did not run')
      expect(r.content[0]!.text).not.toMatch(/expired|kavach-key/)
      expect(s.ran).toEqual([])
      expect((s.errors[0] as Refused).code).toBe('IDENTITY_FAILED')
      expect((s.errors[0] as Refused).verdict?.reason).toMatch(/expired/)
      expect(seen.map((v) => v.code)).toEqual(['IDENTITY_FAILED'])
      expect(seen[0]!.reason).toMatch(/expired/)
    } finally {
      await s.close()
      await gate.close()
    }
  })
})

describe('McpKavachMiddleware: session store', () => {
  test('invalidateSession writes to the store; the next call is an Invalidate from session_store, without the gate', async () => {
    const gate = Gate.fromObject(POLICY)
    const sessionStore = new InMemorySessionStore()
    const mw = new McpKavachMiddleware(gate, { sessionStore })
    const caller = { ...bot, sessionId: 'sess-7' }
    expect((await mw.evaluateToolCall('refund', { amount: 1 }, caller)).isPermit).toBe(true)
    await mw.invalidateSession('sess-7', 'stolen token')
    expect(sessionStore.size).toBe(1)
    expect(sessionStore.isInvalidated('sess-7')).toBe(true)
    const v = await mw.evaluateToolCall('refund', { amount: 1 }, caller)
    expect(v).toMatchObject({ kind: 'invalidate', code: 'SESSION_INVALID', evaluator: 'session_store' })
    expect(v.reason).toContain("'sess-7'")
    expect(v.scope).toMatchObject({ targetKind: 'session', targetId: 'sess-7', evaluator: 'session_store' })
    // The gate revoked the session itself (gate.revoke): a direct evaluation refuses it too.
    const direct = gate.evaluate({ principalId: 'agent-1', principalKind: 'agent', roles: ['support'], actionName: 'refund', params: { amount: 1 }, sessionId: 'sess-7' })
    expect(direct).toMatchObject({ kind: 'refuse', code: 'SESSION_INVALID' })
    expect(direct.reason).toContain('stolen token')
    const err = await mw.checkToolCall('refund', { amount: 1 }, caller).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(Invalidated)
    expect(err).toBeInstanceOf(KavachInvalidated)
    expect((err as Invalidated).evaluator).toBe('session_store')
    // Other sessions are not affected.
    expect((await mw.evaluateToolCall('refund', { amount: 1 }, { ...bot, sessionId: 'sess-8' })).isPermit).toBe(true)
  })

  test("the gate's broadcaster carries the revocation: listeners hear it once, a replica gate refuses it", async () => {
    const broadcaster = new InMemoryInvalidationBroadcaster()
    const gate = Gate.fromObject(POLICY, { broadcaster })
    const replica = Gate.fromObject(POLICY, { broadcaster })
    const mw = new McpKavachMiddleware(gate)
    const heard: InvalidationScope[] = []
    const handle = spawnInvalidationListener(broadcaster, (s) => {
      heard.push(s)
    })
    try {
      await mw.invalidateSession('sess-b', 'operator')
      const direct = gate.evaluate({ principalId: 'agent-1', principalKind: 'agent', roles: ['support'], actionName: 'refund', params: { amount: 1 }, sessionId: 'sess-b' })
      expect(direct.code).toBe('SESSION_INVALID')
      await expect.poll(() => heard.length).toBe(1)
      expect(heard[0]).toMatchObject({ targetKind: 'session', targetId: 'sess-b', reason: 'operator', evaluator: 'session_store' })
      await expect
        .poll(() => replica.evaluate({ principalId: 'agent-1', principalKind: 'agent', roles: ['support'], actionName: 'refund', params: { amount: 1 }, sessionId: 'sess-b' }).code)
        .toBe('SESSION_INVALID')
      expect(heard).toHaveLength(1)
    } finally {
      handle.abort()
    }
  })

  test('a store that throws, rejects or answers a non-boolean refuses the call (fail closed)', async () => {
    const gate = Gate.fromObject(POLICY)
    const stores: SessionStore[] = [
      { isInvalidated: () => { throw new Error('disk gone') }, invalidate: () => undefined },
      { isInvalidated: () => Promise.reject(new Error('network down')), invalidate: () => undefined },
      { isInvalidated: () => undefined as unknown as boolean, invalidate: () => undefined },
    ]
    for (const sessionStore of stores) {
      const mw = new McpKavachMiddleware(gate, { sessionStore })
      const v = await mw.evaluateToolCall('refund', { amount: 1 }, { ...bot, sessionId: 's' })
      expect(v).toMatchObject({ kind: 'refuse', code: 'STORE_UNAVAILABLE', evaluator: 'session_store' })
      expect(v.reason).toContain("'s'")
      // Without a session id the store is not asked.
      expect((await mw.evaluateToolCall('refund', { amount: 1 }, bot)).isPermit).toBe(true)
    }
  })

  test('a store of the wrong shape is an InvalidOptionsError; a bad session id an InvalidArgumentError', async () => {
    const gate = Gate.fromObject(POLICY)
    expect(() => new McpKavachMiddleware(gate, { sessionStore: { invalidate: () => undefined } as unknown as SessionStore })).toThrow(InvalidOptionsError)
    await expect(new McpKavachMiddleware(gate).invalidateSession('')).rejects.toBeInstanceOf(InvalidArgumentError)
  })
})

describe('gate.revoke', () => {
  const ctx = { principalId: 'agent-1', principalKind: 'agent' as const, roles: ['support'], actionName: 'refund', params: { amount: 1 } }

  test('revokes a principal, a role or a session until lift, with the given reason', async () => {
    const gate = Gate.fromObject(POLICY)
    expect(gate.evaluate(ctx).isPermit).toBe(true)
    await gate.revoke({ targetKind: 'principal', targetId: 'agent-1', reason: 'key leaked' })
    const v = gate.evaluate(ctx)
    expect(v).toMatchObject({ kind: 'refuse', code: 'SESSION_INVALID' })
    expect(v.reason).toContain('key leaked')
    expect(gate.evaluate({ ...ctx, principalId: 'agent-2' }).isPermit).toBe(true)
    gate.lift({ targetKind: 'principal', targetId: 'agent-1' })
    expect(gate.evaluate(ctx).isPermit).toBe(true)
    await gate.revoke({ targetKind: 'role', targetId: 'support' })
    expect(gate.evaluate({ ...ctx, principalId: 'agent-3' }).code).toBe('SESSION_INVALID')
  })

  test('a session revoked on one replica is refused by another sharing the RedisSessionStore', async () => {
    const keyPrefix = uniquePrefix('revoke')
    const storeA = await RedisSessionStore.connect(REDIS_URL, { ttlSeconds: 600, prefix: keyPrefix })
    const storeB = await RedisSessionStore.connect(REDIS_URL, { ttlSeconds: 600, prefix: keyPrefix })
    const a = Gate.fromObject(POLICY, { sessionStore: storeA })
    const b = Gate.fromObject(POLICY, { sessionStore: storeB })
    try {
      expect((await b.evaluateAsync({ ...ctx, sessionId: 'r-1' })).isPermit).toBe(true)
      await a.revoke({ targetKind: 'session', targetId: 'r-1', reason: 'operator' })
      expect((await b.evaluateAsync({ ...ctx, sessionId: 'r-1' })).code).toBe('SESSION_INVALID')
      expect((await b.evaluateAsync({ ...ctx, sessionId: 'r-2' })).isPermit).toBe(true)
    } finally {
      await Promise.all([a.close(), b.close()])
      await Promise.all([storeA.close(), storeB.close()])
    }
  })

  test('bad scopes are InvalidArgumentError (rejected promises, never a throw)', async () => {
    const gate = Gate.fromObject(POLICY)
    await expect(gate.revoke(null as never)).rejects.toBeInstanceOf(InvalidArgumentError)
    await expect(gate.revoke({ targetKind: 'tenant' as never, targetId: 'x' })).rejects.toThrow(/targetKind must be one of session, principal, role/)
    await expect(gate.revoke({ targetKind: 'session', targetId: '' })).rejects.toBeInstanceOf(InvalidArgumentError)
  })
})

describe('McpKavachMiddleware with Redis (real server)', () => {
  const closers: Array<() => unknown> = []
  /** Prefixes whose keys are deleted after the suite (a revoked session is kept for 24 h). */
  const prefixes: string[] = []
  const tracked = (tag: string): string => {
    const p = uniquePrefix(tag)
    prefixes.push(p)
    return p
  }
  afterAll(async () => {
    for (const c of closers) c()
    const redis = new Redis(REDIS_URL)
    for (const p of prefixes) {
      const keys = await redis.keys(`kavach:${p}:*`)
      if (keys.length > 0) await redis.del(...keys)
    }
    redis.disconnect()
  })

  test('a RedisSessionStore is the store: a revocation on one replica refuses the session on another', async () => {
    const prefix = tracked('mcp-sess')
    const storeA = await RedisSessionStore.connect(REDIS_URL, { ttlSeconds: 600, prefix })
    const storeB = await RedisSessionStore.connect(REDIS_URL, { ttlSeconds: 600, prefix })
    closers.push(() => storeA.close(), () => storeB.close())
    const a = new McpKavachMiddleware(Gate.fromObject(POLICY), { sessionStore: storeA })
    const b = new McpKavachMiddleware(Gate.fromObject(POLICY), { sessionStore: storeB })
    const caller = { ...bot, sessionId: 'shared-1' }
    expect((await b.evaluateToolCall('refund', { amount: 1 }, caller)).isPermit).toBe(true)
    await a.invalidateSession('shared-1', 'revoked on replica a')
    const v = await b.evaluateToolCall('refund', { amount: 1 }, caller)
    expect(v).toMatchObject({ kind: 'invalidate', evaluator: 'session_store' })
    expect(v.reason).toContain("'shared-1'")
    expect((await b.evaluateToolCall('refund', { amount: 1 }, { ...bot, sessionId: 'shared-2' })).isPermit).toBe(true)
    // A closed store cannot answer: the call is refused, never permitted.
    storeB.close()
    const closed = await b.evaluateToolCall('refund', { amount: 1 }, { ...bot, sessionId: 'shared-3' })
    expect(closed).toMatchObject({ kind: 'refuse', code: 'STORE_UNAVAILABLE', evaluator: 'session_store' })
  })

  test('a revocation read from a shared store refuses whatever sessionStartedAt the caller sends', async () => {
    // Two replicas sharing revocations through one Redis prefix. Replica B's gate allows an
    // hour of clock skew; the revocation read must not depend on the caller's start at all.
    const prefix = tracked('mcp-skew')
    const storeA = await RedisSessionStore.connect(REDIS_URL, { ttlSeconds: 600, prefix })
    const storeB = await RedisSessionStore.connect(REDIS_URL, { ttlSeconds: 600, prefix })
    closers.push(() => storeA.close(), () => storeB.close())
    const gateB = Gate.fromObject(POLICY, { maxClockSkewSeconds: 3600 })
    const a = new McpKavachMiddleware(Gate.fromObject(POLICY), { sessionStore: storeA })
    const b = new McpKavachMiddleware(gateB, { sessionStore: storeB })
    const now = Math.floor(Date.now() / 1000)
    const sid = 'skewed-1'
    await a.invalidateSession(sid, 'token leaked')
    for (const sessionStartedAt of [undefined, now - 60, now + 301, now + 600, now + 3000, now + 7200]) {
      const caller = { ...bot, sessionId: sid, ...(sessionStartedAt === undefined ? {} : { sessionStartedAt }) }
      const v = await b.evaluateToolCall('refund', { amount: 1 }, caller)
      expect(v, `sessionStartedAt ${sessionStartedAt}`).toMatchObject({ kind: 'invalidate', code: 'SESSION_INVALID', evaluator: 'session_store' })
    }
    let ran = 0
    const refund = b.guardTool('refund', () => ++ran, { ...bot, sessionId: sid, sessionStartedAt: now + 600 })
    await expect(refund({ amount: 1 })).rejects.toBeInstanceOf(Invalidated)
    expect(ran).toBe(0)

    // A session that is not revoked: the read answers "not revoked" and the gate judges the
    // start by its own option (an hour of skew here), not by the reader's defaults.
    const live = { ...bot, sessionId: 'skewed-2' }
    expect(await b.evaluateToolCall('refund', { amount: 1 }, { ...live, sessionStartedAt: now + 600 })).toMatchObject({ kind: 'permit' })
    expect(await b.evaluateToolCall('refund', { amount: 1 }, { ...live, sessionStartedAt: now + 7200 })).toMatchObject({ kind: 'refuse', code: 'INVALID_CONTEXT', evaluator: 'gate' })
  })

  test('the revocation read writes nothing; a gate sharing the store seeds the session from the caller', async () => {
    const prefix = tracked('mcp-seed')
    const store = await RedisSessionStore.connect(REDIS_URL, { ttlSeconds: 600, prefix })
    const redis = new Redis(REDIS_URL)
    closers.push(() => store.close(), () => redis.disconnect())
    const now = Math.floor(Date.now() / 1000)
    const caller = { ...bot, sessionStartedAt: now - 120, ip: '10.0.0.9' }
    // The gate keeps no session state: only the read touches this store, and it creates nothing.
    const readOnly = new McpKavachMiddleware(Gate.fromObject(POLICY), { sessionStore: store })
    expect((await readOnly.evaluateToolCall('refund', { amount: 1 }, { ...caller, sessionId: 'seed-1' })).isPermit).toBe(true)
    expect(await redis.exists(store.keyFor('seed-1'))).toBe(0)
    // The gate shares the store: the session is seeded by the real evaluation, from the
    // caller's own start and address.
    const shared = new McpKavachMiddleware(Gate.fromObject(POLICY, { sessionStore: store }), { sessionStore: store })
    expect((await shared.evaluateToolCall('refund', { amount: 1 }, { ...caller, sessionId: 'seed-2' })).isPermit).toBe(true)
    expect(await redis.hgetall(store.keyFor('seed-2'))).toMatchObject({ started_at: String(now - 120), origin_ip: '10.0.0.9' })
  })

  test('a read that is not a clean "not revoked" refuses, from the session store, before the gate runs', async () => {
    const store = await RedisSessionStore.connect(REDIS_URL, { ttlSeconds: 600, prefix: tracked('mcp-unclean') })
    closers.push(() => store.close())
    // A gate that permits everything: any refusal below comes from the revocation read.
    const mw = new McpKavachMiddleware(Gate.fromObject({ policies: [{ name: 'all', effect: 'permit', conditions: [] }] }), { sessionStore: store })
    const v = await mw.evaluateToolCall('refund', { amount: 1 }, { ...bot, sessionId: 'x'.repeat(5000) })
    expect(v).toMatchObject({ kind: 'refuse', code: 'INVALID_CONTEXT', evaluator: 'session_store' })
    expect(v.reason).toContain('could not be read')
    // A session id the gate would reject as an argument is rejected before the store is asked.
    await expect(mw.evaluateToolCall('refund', { amount: 1 }, { ...bot, sessionId: 7 as unknown as string })).rejects.toBeInstanceOf(InvalidArgumentError)
    await expect(mw.evaluateToolCall('refund', { amount: 1 }, { ...bot, sessionId: null as unknown as string })).rejects.toThrow(/caller.sessionId must be a string \(got null\)/)
  })

  test('a gate with a network store is evaluated on the async path', async () => {
    const rateStore = await RedisRateLimitStore.connect(REDIS_URL, { prefix: tracked('mcp-rate') })
    closers.push(() => rateStore.close())
    const gate = Gate.fromObject(
      { policies: [{ name: 'twice', effect: 'permit', conditions: [{ action: 'ping' }, { rate_limit: { max: 2, window: '1m' } }] }] },
      { rateStore },
    )
    expect(gate.supportsSync).toBe(false)
    const mw = new McpKavachMiddleware(gate)
    const codes = []
    for (let i = 0; i < 3; i++) codes.push((await mw.evaluateToolCall('ping', {}, bot)).code ?? 'permit')
    expect(codes).toEqual(['permit', 'permit', 'RATE_LIMIT_EXCEEDED'])
  })
})
