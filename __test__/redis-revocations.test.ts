// Principal/role revocations survive pub/sub gaps: every published scope is also kept in a
// revocation log in Redis for its TTL and replayed on every (re)subscribe. A replica started
// after the revocation (another Node process) refuses the principal; a subscriber whose
// connection was killed hears what was published while it was down. Keys and JSON are checked
// with ioredis. Needs the Redis on 127.0.0.1:6379 (and starts a throwaway redis-server).

import { describe, expect, test } from 'vitest'

import {
  Gate,
  RedisInvalidationBroadcaster,
  RedisSessionStore,
  StoreUnavailableError,
  spawnInvalidationListener,
  type InvalidationScope,
  type RevokeScope,
  type PolicySetInput,
} from '../index'
import { REDIS_URL, RedisProcess, Replica, ioredis, prefixesCleanedAfterAll } from './fixtures/redis-helpers'

const POLICY: PolicySetInput = {
  policies: [{ name: 'refunds', effect: 'permit', conditions: [{ action: 'issue_refund' }] }],
}

const as = (principalId: string) => ({ principalId, principalKind: 'agent' as const, actionName: 'issue_refund' })

const prefix = prefixesCleanedAfterAll()

async function until(check: () => boolean | Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms
  while (Date.now() < end) {
    if (await check()) return
    await new Promise((r) => setTimeout(r, 25))
  }
  throw new Error(`timed out waiting for ${what}`)
}

describe('revocations reach replicas that were not listening', () => {
  test('a replica started after a principal revocation (another process) refuses it', async () => {
    const p = prefix('late')
    const channel = `kavach:${p}:invalidation`
    const bcA = await RedisInvalidationBroadcaster.connect(REDIS_URL, { channel, prefix: p, revocationTtlSeconds: 600 })
    const gateA = Gate.fromObject(POLICY, { broadcaster: bcA, invalidationTtlSeconds: 600 })
    try {
      expect((await gateA.evaluateAsync(as('agent-x'))).isPermit).toBe(true)
      await bcA.publish('principal', 'agent-x', 'credentials leaked', 'security')
      await until(async () => (await gateA.evaluateAsync(as('agent-x'))).isRefuse, 'gate A to hear its own revocation')
      expect(await gateA.evaluateAsync(as('agent-x'))).toMatchObject({ code: 'SESSION_INVALID', evaluator: 'gate' })

      // The log as an independent client sees it: one hash-tagged hash, JSON per scope, and
      // a sorted set by expiry, both expiring with the newest entry.
      const r = ioredis()
      const key = `kavach:${p}:revocations:{${channel}}`
      expect(bcA.revocationsKey).toBe(key)
      expect(await r.type(key)).toBe('hash')
      const msg = JSON.parse((await r.hget(key, 'principal:agent-x')) ?? 'null') as Record<string, string | number>
      expect(msg).toMatchObject({
        target_kind: 'principal',
        target_id: 'agent-x',
        reason: 'credentials leaked',
        evaluator: 'security',
        origin: bcA.origin,
      })
      expect(Object.keys(msg).sort()).toEqual(['evaluator', 'expires_at_ms', 'origin', 'reason', 'target_id', 'target_kind'])
      expect(Math.abs((msg.expires_at_ms as number) - Date.now() - 600_000)).toBeLessThan(30_000)
      const zkey = `kavach:${p}:revocations:expiry:{${channel}}`
      expect(Number(await r.zscore(zkey, 'principal:agent-x'))).toBe(msg.expires_at_ms)
      for (const k of [key, zkey]) {
        const pttl = await r.pttl(k)
        expect(pttl).toBeGreaterThan(590_000)
        expect(pttl).toBeLessThanOrEqual(600_000)
      }
      r.disconnect()

      // Replica B starts afterwards in another process: it never saw the pub/sub message.
      const b = new Replica()
      try {
        await b.request('init', { url: REDIS_URL, prefix: p, policy: POLICY, channel, revocationTtlSeconds: 600 })
        const onB = (await b.request('eval', { ctx: as('agent-x') })).verdict as Record<string, string>
        expect(onB).toMatchObject({ kind: 'refuse', code: 'SESSION_INVALID', evaluator: 'gate' })
        expect(onB.reason).toContain("principal 'agent-x'")
        expect(onB.reason).toContain('credentials leaked')
        // Only that principal.
        expect((await b.request('eval', { ctx: as('agent-y') })).verdict).toMatchObject({ kind: 'permit' })
      } finally {
        await b.close()
      }

      // Lifting is local to a gate; forgetting removes the scope from the log, so replicas
      // started from now on no longer hear it.
      gateA.lift({ targetKind: 'principal', targetId: 'agent-x' })
      expect((await gateA.evaluateAsync(as('agent-x'))).isPermit).toBe(true)
      expect(await bcA.forget('principal', 'agent-x')).toBe(true)
      expect(await bcA.forget('principal', 'agent-x')).toBe(false)
      await expect(bcA.forget('team' as 'role', 'x')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' })
      const c = new Replica()
      try {
        await c.request('init', { url: REDIS_URL, prefix: p, policy: POLICY, channel, revocationTtlSeconds: 600 })
        expect((await c.request('eval', { ctx: as('agent-x') })).verdict).toMatchObject({ kind: 'permit' })
      } finally {
        await c.close()
      }
    } finally {
      await gateA.close()
      bcA.close()
    }
  }, 60_000)

  test('a scope published while the subscriber connection was killed arrives after reconnect', async () => {
    const server = await RedisProcess.start()
    const admin = ioredis(server.url)
    const channel = 'kavach:kill:invalidation'
    try {
      // A second user publishes while the default user may not subscribe, so the killed
      // subscriber stays down exactly as long as the test wants.
      await admin.call('ACL', 'SETUSER', 'pub', 'on', '>pw', '~*', '&*', '+@all')
      const sub = await RedisInvalidationBroadcaster.connect(server.url, { channel, prefix: 'kill', commandTimeoutMs: 500 })
      const publisher = await RedisInvalidationBroadcaster.connect(`redis://pub:pw@127.0.0.1:${server.port}`, {
        channel,
        prefix: 'kill',
        commandTimeoutMs: 500,
      })
      const gate = Gate.fromObject(POLICY, { broadcaster: sub })
      const heard: InvalidationScope[] = []
      const handle = spawnInvalidationListener(sub, (s) => {
        heard.push(s)
      })
      try {
        await admin.call('ACL', 'SETUSER', 'default', 'resetchannels')
        const killed = Number(await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub', 'USER', 'default'))
        expect(killed).toBeLessThanOrEqual(1) // Redis 7 may already have dropped it
        await until(() => !sub.isSubscribed, 'the subscriber to notice the kill')

        await publisher.publish('principal', 'agent-k', 'published while down', 'security')
        await new Promise((r) => setTimeout(r, 300))
        expect(sub.isSubscribed).toBe(false)
        expect(heard).toEqual([])
        // Not heard yet: this replica still permits (the gap the log closes).
        expect((await gate.evaluateAsync(as('agent-k'))).isPermit).toBe(true)

        await admin.call('ACL', 'SETUSER', 'default', 'allchannels')
        await until(() => heard.length > 0, 'replay after reconnect')
        expect(heard).toEqual([
          { targetKind: 'principal', targetId: 'agent-k', reason: 'published while down', evaluator: 'security' },
        ])
        expect(sub.replayedCount).toBe(1)
        expect(await gate.evaluateAsync(as('agent-k'))).toMatchObject({ code: 'SESSION_INVALID', evaluator: 'gate' })
        await until(() => sub.isSubscribed, 'resubscription')
        // Live delivery resumed.
        await publisher.publish('role', 'refunder', 'after reconnect', 'manual')
        await until(() => heard.length === 2, 'live delivery after reconnect')
      } finally {
        handle.abort()
        await gate.close()
        sub.close()
        publisher.close()
      }
    } finally {
      admin.disconnect()
      await server.destroy()
    }
  }, 60_000)

  test('bad broadcaster options are rejected', async () => {
    await expect(
      RedisInvalidationBroadcaster.connect(REDIS_URL, { channel: 'c', revocationTtlSeconds: 0 }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' })
    await expect(RedisInvalidationBroadcaster.connect(REDIS_URL, { channel: 'c', prefix: 'a b' })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    })
  })
})

describe('a revocation the other gates may not have heard is not reported as done', () => {
  test('a scope forgotten while it waits to be published is not published afterwards', async () => {
    const server = await RedisProcess.start()
    const p = prefix('unsent-forget')
    const opts = { prefix: p, commandTimeoutMs: 300, revocationTtlSeconds: 600 }
    const bc = await RedisInvalidationBroadcaster.connect(server.url, opts)
    try {
      server.child!.kill('SIGSTOP')
      try {
        await expect(bc.publish('principal', 'agent-7', 'suspected leak', 'security')).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' })
        expect(bc.unsentCount).toBe(1)
      } finally {
        server.child!.kill('SIGCONT')
      }
      await bc.forget('principal', 'agent-7')
      expect(bc.unsentCount).toBe(0)
      // Past the broadcaster's next PINGs, which would publish what it kept.
      await new Promise((r) => setTimeout(r, 2_500))
      const late = await RedisInvalidationBroadcaster.connect(server.url, opts)
      try {
        const r = ioredis(server.url)
        try {
          expect(await r.hgetall(late.revocationsKey)).toEqual({})
        } finally {
          r.disconnect()
        }
      } finally {
        late.close()
      }
    } finally {
      bc.close()
      await server.destroy()
    }
  }, 60_000)

  test('an Invalidate drift issues while Redis does not answer is kept and reaches the other replicas once Redis answers', async () => {
    const server = await RedisProcess.start()
    const p = prefix('unsent')
    const connect = async () => {
      const broadcaster = await RedisInvalidationBroadcaster.connect(server.url, { prefix: p, commandTimeoutMs: 300, revocationTtlSeconds: 600 })
      const gate = Gate.fromObject(POLICY, { broadcaster, invalidationTtlSeconds: 600 })
      return { gate, broadcaster, close: async () => (await gate.close(), broadcaster.close()) }
    }
    const a = await connect()
    const b = await connect()
    // Origin and current IP both known and different: a drift violation, which invalidates
    // the principal (no session id).
    const moved = { ...as('agent-9'), originIp: '203.0.113.7', ip: '198.51.100.9' }
    try {
      expect((await b.gate.evaluateAsync(as('agent-9'))).isPermit).toBe(true)
      expect(a.broadcaster.unsentCount).toBe(0)
      server.child!.kill('SIGSTOP')
      try {
        const v = await a.gate.evaluateAsync(moved)
        expect(v).toMatchObject({ kind: 'invalidate', evaluator: 'drift', scope: { targetKind: 'principal', targetId: 'agent-9' } })
        expect(a.broadcaster.unsentCount).toBe(1)
        // A publish of its own fails the same way, says so, and is kept too.
        await expect(a.broadcaster.publish('role', 'refunder', 'audit finding', 'security')).rejects.toMatchObject({
          code: 'STORE_UNAVAILABLE',
          message: expect.stringMatching(/; kept, and published once Redis answers$/),
        })
        expect(a.broadcaster.unsentCount).toBe(2)
      } finally {
        server.child!.kill('SIGCONT')
      }
      // Nobody calls anything on gate A: its broadcaster publishes both once Redis answers.
      await until(() => a.broadcaster.unsentCount === 0, 'the kept scopes to be published')
      await until(async () => (await b.gate.evaluateAsync(as('agent-9'))).code === 'SESSION_INVALID', 'replica B to refuse the principal')
      const late = await connect()
      try {
        expect(await late.gate.evaluateAsync(as('agent-9'))).toMatchObject({ code: 'SESSION_INVALID', evaluator: 'gate' })
        const r = ioredis(server.url)
        try {
          expect(Object.keys(await r.hgetall(late.broadcaster.revocationsKey)).sort()).toEqual(['principal:agent-9', 'role:refunder'])
        } finally {
          r.disconnect()
        }
      } finally {
        await late.close()
      }
    } finally {
      await a.close()
      await b.close()
      await server.destroy()
    }
  }, 60_000)

  test('revoke rejects with STORE_UNAVAILABLE while Redis does not answer, refuses locally at once, and a retry reaches a new replica', async () => {
    const server = await RedisProcess.start()
    const p = prefix('unheard')
    const opts = { prefix: p, commandTimeoutMs: 300 }
    const connect = async () => {
      const sessionStore = await RedisSessionStore.connect(server.url, { ...opts, ttlSeconds: 600 })
      const broadcaster = await RedisInvalidationBroadcaster.connect(server.url, { ...opts, revocationTtlSeconds: 600 })
      const gate = Gate.fromObject(POLICY, { sessionStore, broadcaster, enableDrift: false })
      return { gate, close: async () => (await gate.close(), sessionStore.close(), broadcaster.close()) }
    }
    const a = await connect()
    const agent = as('agent-7')
    const session = { ...as('agent-8'), sessionId: 'sess-2' }
    const scopes: RevokeScope[] = [
      { targetKind: 'principal', targetId: 'agent-7', reason: 'key leaked' },
      { targetKind: 'session', targetId: 'sess-2', reason: 'hijacked' },
    ]
    try {
      expect((await a.gate.evaluateAsync(session)).isPermit).toBe(true)
      server.child!.kill('SIGSTOP')
      try {
        const outcomes = await Promise.allSettled(scopes.map((s) => a.gate.revoke(s)))
        const [principal, sess] = outcomes.map((o) => (o.status === 'rejected' ? (o.reason as Error & { code?: string }) : undefined))
        expect(principal).toBeInstanceOf(StoreUnavailableError)
        expect(principal!.message).toMatch(/^principal 'agent-7' revoked on this gate only: could not publish it to the other gates \(.*\); retry the revoke$/)
        expect(sess).toBeInstanceOf(StoreUnavailableError)
        expect(sess!.message).toMatch(/^session 'sess-2' revoked on this gate only: could not mark the session invalid in the session store \(.*\); could not publish it to the other gates \(.*\); retry the revoke$/)
        // This gate refuses both at once, without Redis.
        expect((await a.gate.evaluateAsync(agent)).code).toBe('SESSION_INVALID')
        expect((await a.gate.evaluateAsync(session)).code).toBe('SESSION_INVALID')
      } finally {
        server.child!.kill('SIGCONT')
      }
      // The retry the rejection asks for reaches Redis: a replica started afterwards refuses both.
      await until(async () => {
        const retried = await Promise.allSettled(scopes.map((s) => a.gate.revoke(s)))
        return retried.every((o) => o.status === 'fulfilled')
      }, 'the retried revoke to succeed')
      const b = await connect()
      try {
        await until(async () => (await b.gate.evaluateAsync(agent)).code === 'SESSION_INVALID', 'the new replica to refuse the principal')
        expect((await b.gate.evaluateAsync(session)).code).toBe('SESSION_INVALID')
      } finally {
        await b.close()
      }
    } finally {
      await a.close()
      await server.destroy()
    }
  })
})
