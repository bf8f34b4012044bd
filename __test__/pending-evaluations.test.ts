// The bound on evaluateAsync calls in flight (`maxPendingEvaluations`, docs/SECURITY.md
// "Resource bounds"): with a private redis-server stopped (SIGSTOP), evaluations pile up to
// the bound; the next one resolves at once to a Refuse STORE_UNAVAILABLE naming the limit
// (never a Permit, never an unsettled promise); once the server resumes the pending ones
// settle with real verdicts and capacity comes back. One count covers both routes (grouped
// submissions on the event loop or the thread pool, and the thread-pool route for contexts the
// fast path cannot carry), and it returns to zero on every way an evaluation ends.

import { afterAll, beforeAll, describe, expect, test } from 'vitest'

import { Gate, KavachKeyPair, PqTokenSigner, RedisRateLimitStore, RedisSessionStore, StoreUnavailableError, type EvaluateOptions, type Explanation, type GateOptions, type Verdict } from '../index'
import { GateOptionsSchema } from '../src/schema'
import { RedisProcess, prefixesCleanedAfterAll, tally } from './fixtures/redis-helpers'
import { CLOSED_REASON } from './fixtures/closed-gate'

const prefix = prefixesCleanedAfterAll()
let server: RedisProcess

beforeAll(async () => {
  server = await RedisProcess.start()
})

afterAll(async () => {
  await server.destroy()
})

const BOUND = 50
/** One more than `BOUND`: the pending evaluations all permit, and the refused one counts no hit. */
const LIMIT = BOUND + 1
const POLICY = {
  policies: [{ name: 'tools', effect: 'permit' as const, conditions: [{ action: 'call_tool' }, { rate_limit: { max: LIMIT, window: '1h' } }] }],
}

function call(principalId: string): EvaluateOptions {
  return { principalId, principalKind: 'agent', actionName: 'call_tool' }
}

/** More params than the fast path carries (MAX_FAST_PARAMS in src/gate.ts): `evaluateRawAsync`. */
function wideCall(principalId: string): EvaluateOptions {
  const params: Record<string, number> = {}
  for (let i = 0; i < 9; i++) params[`p${i}`] = i
  return { ...call(principalId), params }
}

type Outcome = Verdict | 'pending'

/** `p`'s verdict if it settles before timers and I/O get a turn (microtasks only), else 'pending'. */
async function atOnce(p: Promise<Verdict>): Promise<Outcome> {
  return Promise.race([p, new Promise<'pending'>((res) => setImmediate(() => res('pending')))])
}

/** Promises plus how many have settled so far. */
function track(ps: Promise<Verdict>[]): { all: Promise<Verdict[]>; settled: () => number } {
  let n = 0
  for (const p of ps) {
    p.then(
      () => n++,
      () => n++,
    )
  }
  return { all: Promise.all(ps), settled: () => n }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

function expectBoundRefusal(v: Outcome, bound: number): void {
  expect(v).not.toBe('pending')
  const verdict = v as Verdict
  expect(verdict.kind).toBe('refuse')
  expect(verdict.code).toBe('STORE_UNAVAILABLE')
  expect(verdict.evaluator).toBe('gate')
  expect(verdict.reason).toMatch(new RegExp(`^${bound} evaluations pending \\(maxPendingEvaluations\\)`))
}

/**
 * Runs `body` with the private server stopped; it resumes afterwards whatever happens. `body`
 * must not return a promise of the pending verdicts (awaiting it here would wait for them
 * with the server still stopped): it returns `track(...)`.
 */
async function whileStopped<T>(body: () => Promise<T>): Promise<T> {
  const pid = server.child!.pid!
  process.kill(pid, 'SIGSTOP')
  try {
    return await body()
  } finally {
    process.kill(pid, 'SIGCONT')
  }
}

async function redisGate(tag: string, options: GateOptions & { commandTimeoutMs?: number } = {}): Promise<{ gate: Gate; store: RedisRateLimitStore }> {
  const { commandTimeoutMs = 30_000, ...gateOptions } = options
  const store = await RedisRateLimitStore.connect(server.url, { prefix: prefix(tag), commandTimeoutMs })
  const gate = Gate.fromObject(POLICY, { rateStore: store, enableDrift: false, maxPendingEvaluations: BOUND, ...gateOptions })
  // Connected and answering before the server stops.
  expect((await gate.evaluateAsync(call('warm-up'))).isPermit).toBe(true)
  expect(gate.pendingEvaluations).toBe(0)
  return { gate, store }
}

describe('maxPendingEvaluations', () => {
  test('event-loop route: at the bound the next evaluation is refused at once; after Redis resumes the pending ones settle with real verdicts and capacity comes back', async () => {
    const { gate, store } = await redisGate('loop')
    const pending = await whileStopped(async () => {
      const p = track(Array.from({ length: BOUND }, () => gate.evaluateAsync(call('flood'))))
      expect(gate.pendingEvaluations).toBe(BOUND)
      expectBoundRefusal(await atOnce(gate.evaluateAsync(call('flood'))), BOUND)
      // Another principal is refused too: the bound is the gate's, not a caller's.
      expectBoundRefusal(await atOnce(gate.evaluateAsync(call('bystander'))), BOUND)
      await sleep(300)
      expect(p.settled()).toBe(0)
      expect(gate.pendingEvaluations).toBe(BOUND)
      return p
    })
    // Real verdicts from Redis: all permitted (the limit is one more than the bound).
    expect(tally(await pending.all)).toEqual({ permit: BOUND })
    expect(gate.pendingEvaluations).toBe(0)
    // The refusals at the bound were not evaluated, so they counted no hit: one permit is left.
    expect((await gate.evaluateAsync(call('flood'))).isPermit).toBe(true)
    expect((await gate.evaluateAsync(call('flood'))).code).toBe('RATE_LIMIT_EXCEEDED')
    expect((await gate.evaluateAsync(call('bystander'))).isPermit).toBe(true)
    await gate.close()
    store.close()
  }, 30_000)

  test('one count covers grouped submissions and the thread-pool route of contexts the fast path cannot carry', async () => {
    const { gate, store } = await redisGate('mixed')
    const FAST = 30
    const pending = await whileStopped(async () => {
      const fast = Array.from({ length: FAST }, () => gate.evaluateAsync(call('mixed')))
      expect(gate.pendingEvaluations).toBe(FAST)
      const wide = Array.from({ length: BOUND - FAST }, () => gate.evaluateAsync(wideCall('mixed')))
      expect(gate.pendingEvaluations).toBe(BOUND)
      const p = track([...fast, ...wide])
      // Full: refused at once on either route.
      expectBoundRefusal(await atOnce(gate.evaluateAsync(wideCall('mixed'))), BOUND)
      expectBoundRefusal(await atOnce(gate.evaluateAsync(call('mixed'))), BOUND)
      await sleep(300)
      expect(p.settled()).toBe(0)
      return p
    })
    expect(tally(await pending.all)).toEqual({ permit: BOUND })
    expect(gate.pendingEvaluations).toBe(0)
    expect((await gate.evaluateAsync(wideCall('mixed'))).isPermit).toBe(true)
    expect((await gate.evaluateAsync(call('mixed'))).code).toBe('RATE_LIMIT_EXCEEDED')
    await gate.close()
    store.close()
  }, 30_000)

  test('thread-pool route (a signing gate): the same bound, signed permits once Redis resumes', async () => {
    const signer = PqTokenSigner.fromKeypairHybrid(KavachKeyPair.generate())
    const { gate, store } = await redisGate('pool', { tokenSigner: signer })
    const pending = await whileStopped(async () => {
      const p = track(Array.from({ length: BOUND }, () => gate.evaluateAsync(call('signed'))))
      expect(gate.pendingEvaluations).toBe(BOUND)
      expectBoundRefusal(await atOnce(gate.evaluateAsync(call('signed'))), BOUND)
      await sleep(300)
      expect(p.settled()).toBe(0)
      return p
    })
    const verdicts = await pending.all
    expect(tally(verdicts)).toEqual({ permit: BOUND })
    expect(verdicts.every((v) => v.signature !== undefined)).toBe(true)
    expect(gate.pendingEvaluations).toBe(0)
    expect((await gate.evaluateAsync(call('signed'))).isPermit).toBe(true)
    await gate.close()
    store.close()
  }, 30_000)

  test('evaluations that time out give their capacity back: a second full round is admitted while Redis is still stopped', async () => {
    const { gate, store } = await redisGate('timeouts', { commandTimeoutMs: 300 })
    await whileStopped(async () => {
      for (let round = 0; round < 2; round++) {
        const all = Promise.all(Array.from({ length: BOUND }, (_, i) => gate.evaluateAsync(i % 2 === 0 ? call('t') : wideCall('t'))))
        expect(gate.pendingEvaluations).toBe(BOUND)
        expectBoundRefusal(await atOnce(gate.evaluateAsync(call('t'))), BOUND)
        const verdicts = await all
        expect(tally(verdicts)).toEqual({ STORE_UNAVAILABLE: BOUND })
        expect(verdicts.every((v) => v.evaluator === 'rate_store')).toBe(true)
        expect(gate.pendingEvaluations).toBe(0)
      }
    })
    await gate.close()
    store.close()
  }, 30_000)

  test('gate.close() with evaluations in flight: they still settle, the count returns to zero, and none permits after', async () => {
    const { gate, store } = await redisGate('close')
    const pending = await whileStopped(async () => {
      const p = track(Array.from({ length: BOUND }, (_, i) => gate.evaluateAsync(i % 5 === 0 ? wideCall('c') : call('c'))))
      await gate.close()
      // Each call either decided before the close (its count waits for Redis) or was refused by
      // the closed gate; a call made now is refused either way: by the bound or by the close.
      expect(gate.pendingEvaluations).toBeLessThanOrEqual(BOUND)
      const now = await atOnce(gate.evaluateAsync(call('c')))
      expect(now).not.toBe('pending')
      expect([(now as Verdict).code, (now as Verdict).evaluator]).toEqual(['STORE_UNAVAILABLE', 'gate'])
      return p
    })
    const verdicts = await pending.all
    for (const v of verdicts) expect(v.isPermit || [v.code, v.evaluator, v.reason].join('|') === ['STORE_UNAVAILABLE', 'gate', CLOSED_REASON].join('|')).toBe(true)
    expect(verdicts.length).toBe(BOUND)
    expect(gate.pendingEvaluations).toBe(0)
    // A closed gate answers later calls (a new completion channel is attached): it refuses them.
    const after = await gate.evaluateAsync(call('c'))
    expect([after.code, after.evaluator, after.reason]).toEqual(['STORE_UNAVAILABLE', 'gate', CLOSED_REASON])
    store.close()
  }, 30_000)

  test('explainAsync and revoke count too: at the bound explainAsync rejects, revoke revokes on this gate only and rejects saying so; the admitted ones finish once Redis resumes', async () => {
    const sessions = await RedisSessionStore.connect(server.url, { prefix: prefix('calls-sessions'), ttlSeconds: 600 })
    const { gate, store } = await redisGate('calls', { sessionStore: sessions })
    const EVALUATIONS = BOUND - 2
    const admitted = await whileStopped(async () => {
      const verdicts = track(Array.from({ length: EVALUATIONS }, () => gate.evaluateAsync(call('calls'))))
      const explanation = gate.explainAsync(call('calls'))
      const revoked = gate.revoke({ targetKind: 'session', targetId: 'admitted-session' })
      expect(gate.pendingEvaluations).toBe(BOUND)
      expectBoundRefusal(await atOnce(gate.evaluateAsync(call('calls'))), BOUND)
      const explainError: unknown = await gate.explainAsync(call('calls')).then(() => 'resolved', (e: unknown) => e)
      expect(explainError).toBeInstanceOf(StoreUnavailableError)
      expect(explainError).toMatchObject({
        code: 'STORE_UNAVAILABLE',
        message: expect.stringMatching(new RegExp(`^${BOUND} evaluations pending \\(maxPendingEvaluations\\): explainAsync not started`)),
      })
      const revokeError: unknown = await gate.revoke({ targetKind: 'principal', targetId: 'mallory' }).then(() => 'resolved', (e: unknown) => e)
      expect(revokeError).toBeInstanceOf(StoreUnavailableError)
      expect(revokeError).toMatchObject({ code: 'STORE_UNAVAILABLE', message: expect.stringContaining('revoked on this gate only, not in the session store or on the other gates') })
      // Rejected calls hold no capacity.
      expect(gate.pendingEvaluations).toBe(BOUND)
      return { verdicts, explanation, revoked }
    })
    expect(tally(await admitted.verdicts.all)).toEqual({ permit: EVALUATIONS })
    const explained: Explanation = await admitted.explanation
    expect(explained.verdict.isPermit).toBe(true)
    await admitted.revoked
    expect(gate.pendingEvaluations).toBe(0)
    // The revoke that was not admitted still holds on this gate.
    const mallory = await gate.evaluateAsync(call('mallory'))
    expect(mallory.isPermit).toBe(false)
    expect(mallory.code).toBe('SESSION_INVALID')
    // The admitted one reached the session store: a second gate on the same store refuses it.
    const other = Gate.fromObject(POLICY, { rateStore: store, sessionStore: sessions, enableDrift: false })
    const inSession = await other.evaluateAsync({ ...call('calls'), sessionId: 'admitted-session' })
    expect(inSession.code).toBe('SESSION_INVALID')
    await other.close()
    await gate.close()
    store.close()
    sessions.close()
  }, 30_000)

  test('a context that is rejected with an error takes no capacity', async () => {
    const { gate, store } = await redisGate('errors', { maxPendingEvaluations: 1 })
    for (let i = 0; i < 5; i++) {
      await expect(gate.evaluateAsync({ ...call('e'), principalKind: 'robot' as 'agent' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' })
    }
    expect(gate.pendingEvaluations).toBe(0)
    expect((await gate.evaluateAsync(call('e'))).isPermit).toBe(true)
    await gate.close()
    store.close()
  })

  test('the default bound is 100,000', async () => {
    const DEFAULT = 100_000
    const { gate, store } = await redisGate('default', { maxPendingEvaluations: undefined })
    const pending = await whileStopped(async () => {
      const ps: Promise<Verdict>[] = []
      // Distinct principals, each under its limit once Redis answers.
      for (let i = 0; i < DEFAULT; i++) ps.push(gate.evaluateAsync(call(`d-${i}`)))
      expect(gate.pendingEvaluations).toBe(DEFAULT)
      expectBoundRefusal(await atOnce(gate.evaluateAsync(call('d-next'))), DEFAULT)
      return track(ps)
    })
    expect(tally(await pending.all)).toEqual({ permit: DEFAULT })
    expect(gate.pendingEvaluations).toBe(0)
    expect((await gate.evaluateAsync(call('d-next'))).isPermit).toBe(true)
    await gate.close()
    store.close()
  }, 60_000)

  test('an in-process gate answers evaluateAsync at once and holds nothing pending', async () => {
    const gate = Gate.fromObject(POLICY, { maxPendingEvaluations: 1 })
    const verdicts = await Promise.all(Array.from({ length: 10 }, () => gate.evaluateAsync(call('local'))))
    expect(tally(verdicts)).toEqual({ permit: 10 })
    expect(gate.pendingEvaluations).toBe(0)
  })

  test('the option is validated: an integer from 1 to 1,000,000, the error naming it', () => {
    const bad: unknown[] = [0, -1, 1.5, 1_000_001, 1e300, Number.NaN, Number.POSITIVE_INFINITY, '50', null]
    const messages: Record<string, RegExp> = {
      '0': /maxPendingEvaluations must be an integer from 1 to 1000000, got 0/,
      '-1': /maxPendingEvaluations must be a non-negative integer, got -1/,
      '1.5': /maxPendingEvaluations must be a non-negative integer, got 1.5/,
      '1000001': /maxPendingEvaluations must be an integer from 1 to 1000000, got 1000001/,
      '1e+300': /maxPendingEvaluations must be a non-negative integer/,
      NaN: /maxPendingEvaluations must be a non-negative integer, got NaN/,
      Infinity: /maxPendingEvaluations must be a non-negative integer, got inf/,
      '50': /option 'maxPendingEvaluations': must be a number, got string/,
      null: /option 'maxPendingEvaluations': must be a number, got null/,
    }
    for (const v of bad) {
      expect(() => Gate.fromObject(POLICY, { maxPendingEvaluations: v as number }), String(v)).toThrow(
        expect.objectContaining({ code: 'INVALID_OPTIONS', message: expect.stringMatching(messages[String(v)]!) }),
      )
      expect(GateOptionsSchema.safeParse({ maxPendingEvaluations: v }).success, String(v)).toBe(false)
    }
    for (const v of [1, 1_000_000]) {
      expect(Gate.fromObject(POLICY, { maxPendingEvaluations: v }).policyCount).toBe(1)
      expect(GateOptionsSchema.safeParse({ maxPendingEvaluations: v }).success).toBe(true)
    }
  })
})
