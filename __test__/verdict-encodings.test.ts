// Every verdict encoding, round trip: the sync fast path (string + the shared Float64Array,
// `fromFast`), the raw array (`evaluateRaw`, and `evaluateFast` for what the string does not
// carry; `fromRaw`), the evaluateAsync completion batch (text entries with the numbers in the
// header, `BATCH_RAW` entries, `BATCH_FAILED`; `complete` in src/gate.ts) on the event-loop
// and the thread-pool routes, and `evaluateRawAsync`. Each refuse code, evaluator and scope
// kind goes through each, and the test checks the `Verdict` that comes out, field by field.
//
// First from real gates: policies, rate limits, invariants, drift, revocations, a dedicated
// redis-server killed for STORE_UNAVAILABLE, a verifier-only signer for IDENTITY_FAILED, a
// closed audit chain for AUDIT_FAILED. Then the whole matrix (every code x every evaluator,
// every scope kind, non-ASCII text) on every route, through a debug addon built with the
// cargo feature `test-faults`, whose `testForceVerdict` makes the gate return a chosen
// decision: the real encoders and decoders run, including for verdicts no real input
// produces on a route (AUDIT_FAILED on a Redis gate, a role-scope Invalidate).

import { spawnSync } from 'node:child_process'
import { join } from 'node:path'

import { afterAll, beforeAll, describe, expect, test } from 'vitest'

import {
  Gate,
  KavachKeyPair,
  PqTokenSigner,
  RedisRateLimitStore,
  RedisSessionStore,
  SignedAuditChain,
  type EvaluateOptions,
  type GateOptions,
  type Verdict,
} from '../index'
import { REFUSE_CODES, SCOPE_KINDS } from '../src/generated/layout'
import type { ChildOutput, ForcedVerdict } from './fixtures/verdict-encodings'
import { countRawCalls } from './fixtures/raw-calls'
import { REDIS_URL, RedisProcess, prefixesCleanedAfterAll } from './fixtures/redis-helpers'
import { buildTestFaultsAddon } from './fixtures/test-faults-addon'

const ROOT = join(__dirname, '..')
const prefix = prefixesCleanedAfterAll()
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

/** Every evaluator the core reports (crates/kavach-core: gate.rs, gate/*.rs, drift), and `manual` (`gate.revoke`). */
const EVALUATORS = ['policy', 'rate_store', 'session_store', 'gate', 'drift', 'invariants', 'identity', 'audit', 'manual']

// --- what a verdict must look like ---

type Expected = { kind: 'permit'; action: string } | { kind: 'refuse'; code: string; evaluator: string; reason: string | RegExp } | {
  kind: 'invalidate'
  evaluator: string
  reason: string | RegExp
  targetKind: string
  targetId: string
}

const text = (r: string | RegExp): unknown => (typeof r === 'string' ? r : expect.stringMatching(r))

/** The fields of a verdict (without `evaluationId` / `observed`, as in `observed` itself). */
function fields(e: Expected, signed = false): Record<string, unknown> {
  switch (e.kind) {
    case 'permit': {
      const token = {
        tokenId: expect.stringMatching(UUID),
        evaluationId: expect.stringMatching(UUID),
        issuedAt: expect.any(Number),
        expiresAt: expect.any(Number),
        actionName: e.action,
        signature: signed ? expect.any(Buffer) : undefined,
        observeOnly: false,
      }
      return {
        kind: 'permit', isPermit: true, isRefuse: false, isInvalidate: false, code: undefined, evaluator: undefined, reason: undefined,
        tokenId: expect.stringMatching(UUID), permitToken: token, signature: signed ? expect.any(Buffer) : undefined, scope: undefined,
      }
    }
    case 'refuse':
      return {
        kind: 'refuse', isPermit: false, isRefuse: true, isInvalidate: false, code: e.code, evaluator: e.evaluator, reason: text(e.reason),
        tokenId: undefined, permitToken: undefined, signature: undefined, scope: undefined,
      }
    case 'invalidate':
      return {
        kind: 'invalidate', isPermit: false, isRefuse: false, isInvalidate: true, code: 'SESSION_INVALID', evaluator: e.evaluator,
        reason: text(e.reason), tokenId: undefined, permitToken: undefined, signature: undefined,
        scope: { targetKind: e.targetKind, targetId: e.targetId, reason: text(e.reason), evaluator: e.evaluator },
      }
  }
}

/** Checks `v` against `e`, including the permit token's times and the ids' shapes. */
function expectVerdict(v: Verdict, e: Expected, opts: { signed?: boolean; observed?: boolean } = {}): void {
  expect(v).toEqual({ ...fields(e, opts.signed), evaluationId: expect.stringMatching(UUID), observed: undefined })
  if (v.permitToken !== undefined) {
    expect(v.permitToken.evaluationId).toBe(v.evaluationId)
    expect(v.tokenId).toBe(v.permitToken.tokenId)
    expect(v.permitToken.expiresAt - v.permitToken.issuedAt).toBe(30)
    expect(Math.abs(v.permitToken.issuedAt - Date.now() / 1000)).toBeLessThan(120)
  }
}

// --- real gates ---

const READ = 'read'
const POLICIES = {
  policies: [
    { name: 'no-wipe', effect: 'refuse' as const, conditions: [{ action: 'wipe' }] },
    { name: 'once', effect: 'permit' as const, conditions: [{ action: 'once' }, { rate_limit: { max: 1, window: '1h' } }] },
    { name: 'reads', effect: 'permit' as const, conditions: [{ action: READ }, { rate_limit: { max: 1_000_000, window: '1h' } }] },
  ],
}
const NEW_YORK = { countryCode: 'US', city: 'New York', latitude: 40.7128, longitude: -74.006 }
const NEWARK = { countryCode: 'US', city: 'Newark', latitude: 40.7357, longitude: -74.1724 }
const SINGAPORE = { countryCode: 'SG', city: 'Singapore', latitude: 1.3521, longitude: 103.8198 }
const NOW = () => Math.floor(Date.now() / 1000)
/** Drift as drift.test.ts exercises it: a 500 km geo threshold, so a short hop only warns. */
const DRIFT: GateOptions = { geoDriftMaxKm: 500, invariants: [['hard_cap', 'amount', 100]] }

let seq = 0
/** A context with a fresh principal: no rate-limit window or revocation leaks between cases. */
function ctx(extra: Partial<EvaluateOptions> = {}): EvaluateOptions {
  seq++
  return { principalId: `enc-${seq}`, principalKind: 'agent', actionName: READ, ...extra }
}

/** Nine params the policies ignore: one more than the fast path carries (`FAST_IN_MAX_PARAMS`). */
const PAD = Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`pad${i}`, i]))

interface Case {
  name: string
  expected: Expected
  /** The context; `evaluate` is called as often as `times` says, the last verdict counts. */
  ctx: () => EvaluateOptions
  /** Runs before the last evaluation (a revocation). */
  before?: (gate: Gate, c: EvaluateOptions) => Promise<void>
  times?: number
  /** Gate options the case needs on top of the route's. */
  options?: () => GateOptions
}

/** Every code the policy set, drift, invariants and revocations produce on any gate. */
function commonCases(): Case[] {
  const hop = { originIp: '203.0.113.7', ip: '198.51.100.9', originGeo: NEW_YORK }
  const fixed = (extra: Partial<EvaluateOptions> = {}): (() => EvaluateOptions) => {
    const c = ctx(extra)
    return () => c
  }
  const session = `enc-session-${seq}`
  const principal = fixed({ ...hop, currentGeo: SINGAPORE })
  return [
    { name: 'permit', expected: { kind: 'permit', action: READ }, ctx: () => ctx() },
    {
      name: 'NO_POLICY_MATCH',
      expected: { kind: 'refuse', code: 'NO_POLICY_MATCH', evaluator: 'policy', reason: /no policy permits 'unlisted'/ },
      ctx: () => ctx({ actionName: 'unlisted' }),
    },
    {
      name: 'POLICY_DENIED',
      expected: { kind: 'refuse', code: 'POLICY_DENIED', evaluator: 'policy', reason: /no-wipe/ },
      ctx: () => ctx({ actionName: 'wipe' }),
    },
    {
      name: 'RATE_LIMIT_EXCEEDED',
      expected: { kind: 'refuse', code: 'RATE_LIMIT_EXCEEDED', evaluator: 'policy', reason: /once/ },
      ctx: fixed({ actionName: 'once' }),
      times: 2,
    },
    {
      name: 'INVARIANT_VIOLATION',
      expected: { kind: 'refuse', code: 'INVARIANT_VIOLATION', evaluator: 'invariants', reason: /hard_cap/ },
      ctx: () => ctx({ params: { amount: 500 } }),
    },
    {
      name: 'DRIFT_DETECTED',
      expected: { kind: 'refuse', code: 'DRIFT_DETECTED', evaluator: 'drift', reason: /warning/ },
      // Three warnings at once (drift.test.ts): a short hop, late in a long session, a high rate.
      ctx: () => ctx({ ...hop, currentGeo: NEWARK, sessionStartedAt: NOW() - 3.5 * 3600, actionCount: 7000 }),
    },
    {
      name: 'SESSION_INVALID',
      expected: { kind: 'refuse', code: 'SESSION_INVALID', evaluator: 'gate', reason: /revoked by the application/ },
      ctx: fixed(),
      before: (g, c) => g.revoke({ targetKind: 'principal', targetId: c.principalId }),
    },
    {
      name: 'INVALID_CONTEXT',
      expected: { kind: 'refuse', code: 'INVALID_CONTEXT', evaluator: 'gate', reason: /sessionStartedAt .* in the future/ },
      ctx: () => ctx({ sessionStartedAt: NOW() + 86_400 }),
    },
    {
      name: 'invalidate session',
      expected: { kind: 'invalidate', evaluator: 'drift', reason: /ip changed/, targetKind: 'session', targetId: session },
      ctx: () => ctx({ ...hop, currentGeo: SINGAPORE, sessionId: session }),
    },
    {
      name: 'invalidate principal',
      expected: { kind: 'invalidate', evaluator: 'drift', reason: /ip changed/, targetKind: 'principal', targetId: principal().principalId },
      ctx: principal,
    },
  ]
}

/** `c` with params the fast path cannot carry (nine): the general path (`evaluateRaw[Async]`). */
const wide = (c: EvaluateOptions): EvaluateOptions => ({ ...c, params: { ...PAD, ...c.params } })

/** Runs a case on `gate`, sync or async, and counts the general-path calls. */
async function run(gate: Gate, k: Case, how: { async: boolean; wide: boolean }): Promise<{ v: Verdict; rawCalls: number }> {
  const spy = countRawCalls(gate)
  try {
    const c = how.wide ? wide(k.ctx()) : k.ctx()
    let v: Verdict | undefined
    for (let i = 0; i < (k.times ?? 1); i++) {
      if (i === (k.times ?? 1) - 1) await k.before?.(gate, c)
      v = how.async ? await gate.evaluateAsync(c) : gate.evaluate(c)
    }
    return { v: v!, rawCalls: spy.calls() }
  } finally {
    spy.restore()
  }
}

describe('real gates: every code each route can produce', () => {
  const signer = PqTokenSigner.generateHybrid()
  // A gate refuses a verifier-only signer when it is built; one whose key pair has expired
  // signs nothing at evaluation time.
  const expiredSigner = PqTokenSigner.fromKeypairHybrid(KavachKeyPair.generateWithExpiry(0))
  const closedChain = (() => {
    const chain = new SignedAuditChain(KavachKeyPair.generate())
    chain.close()
    return chain
  })()
  const failingSteps: Case[] = [
    {
      name: 'IDENTITY_FAILED (a signer whose key pair expired)',
      expected: { kind: 'refuse', code: 'IDENTITY_FAILED', evaluator: 'identity', reason: /permit signing failed/ },
      ctx: () => ctx(),
      options: () => ({ tokenSigner: expiredSigner }),
    },
    {
      name: 'AUDIT_FAILED (a closed audit chain)',
      expected: { kind: 'refuse', code: 'AUDIT_FAILED', evaluator: 'audit', reason: /audit trail could not record this permit/ },
      ctx: () => ctx(),
      options: () => ({ audit: closedChain }),
    },
  ]
  /** Network stores on a killed redis-server: async routes only. */
  const deadStores: Case[] = [
    {
      name: 'STORE_UNAVAILABLE (the rate store, on a killed redis-server)',
      expected: { kind: 'refuse', code: 'STORE_UNAVAILABLE', evaluator: 'rate_store', reason: /rate limit store unavailable/ },
      ctx: () => ctx(),
      options: () => ({ rateStore: deadRate }),
    },
    {
      name: 'STORE_UNAVAILABLE (the session store, on a killed redis-server)',
      expected: { kind: 'refuse', code: 'STORE_UNAVAILABLE', evaluator: 'session_store', reason: /session store unavailable/ },
      ctx: () => ctx({ sessionId: 'enc-dead-session' }),
      options: () => ({ sessionStore: deadSessions }),
    },
  ]
  let rateStore: RedisRateLimitStore
  let dead: RedisProcess
  let deadRate: RedisRateLimitStore
  let deadSessions: RedisSessionStore

  beforeAll(async () => {
    rateStore = await RedisRateLimitStore.connect(REDIS_URL, { prefix: prefix('real') })
    dead = await RedisProcess.start()
    deadRate = await RedisRateLimitStore.connect(dead.url, { prefix: 'enc-dead', commandTimeoutMs: 300 })
    deadSessions = await RedisSessionStore.connect(dead.url, { prefix: 'enc-dead', commandTimeoutMs: 300, ttlSeconds: 60 })
    await dead.destroy()
  }, 30_000)

  afterAll(() => {
    rateStore?.close()
    deadRate?.close()
    deadSessions?.close()
  })

  // Gate options, sync or async, a context the fast path cannot carry, whether the general path
  // (`evaluateRaw[Async]`) must be taken, permits signed.
  type Route = { name: string; options: () => GateOptions; async: boolean; wide: boolean; rawCalls: boolean; signed?: boolean }
  const routes: Route[] = [
    { name: 'sync fast', options: () => ({}), async: false, wide: false, rawCalls: false },
    { name: 'sync raw', options: () => ({}), async: false, wide: true, rawCalls: true },
    { name: 'batch (event loop, Redis)', options: () => ({ rateStore }), async: true, wide: false, rawCalls: false },
    { name: 'raw async (Redis gate)', options: () => ({ rateStore }), async: true, wide: true, rawCalls: true },
    // A signing gate: evaluations on the thread pool; signed permits travel as `BATCH_RAW` entries.
    { name: 'batch (thread pool, signer)', options: () => ({ tokenSigner: signer }), async: true, wide: false, rawCalls: false, signed: true },
    { name: 'raw async (signer gate)', options: () => ({ tokenSigner: signer }), async: true, wide: true, rawCalls: true, signed: true },
  ]

  for (const r of routes) {
    describe(r.name, () => {
      for (const k of [...commonCases(), ...failingSteps, ...(r.async ? deadStores : [])]) {
        test(k.name, async () => {
          const gate = Gate.fromObject(POLICIES, { ...DRIFT, ...r.options(), ...k.options?.() })
          const { v, rawCalls } = await run(gate, k, r)
          expectVerdict(v, k.expected, { signed: r.signed === true && k.expected.kind === 'permit' })
          expect(rawCalls > 0).toBe(r.rawCalls)
          await gate.close()
        })
      }
    })
  }

  test('observe-only: each would-be verdict travels as the raw array\'s observed twin (`BATCH_RAW` on the event loop)', async () => {
    const gate = Gate.fromObject(POLICIES, { ...DRIFT, rateStore, observeOnly: true })
    for (const k of commonCases().slice(1)) {
      const { v } = await run(gate, k, { async: true, wide: false })
      expect(v.kind).toBe('permit')
      expect(v.permitToken?.observeOnly).toBe(true)
      expect(v.observed).toEqual(fields(k.expected))
    }
    await gate.close()
  })
})

// --- the whole matrix through testForceVerdict ---

/** Non-ASCII text: lengths in the fast and batch encodings are UTF-16 code units. */
const MARK = 'ünïcødé 🛡️'

function matrix(): ForcedVerdict[] {
  const out: ForcedVerdict[] = []
  for (const code of REFUSE_CODES) {
    for (const evaluator of EVALUATORS) {
      out.push({ kind: 'refuse', code, evaluator, reason: `${code} by ${evaluator} ${MARK}` })
    }
  }
  for (const targetKind of SCOPE_KINDS) {
    for (const evaluator of EVALUATORS) {
      out.push({ kind: 'invalidate', evaluator, reason: `${targetKind} by ${evaluator} ${MARK}`, targetKind, targetId: `${targetKind}-${MARK}` })
    }
  }
  return out
}

function expectedOf(f: ForcedVerdict): Expected {
  return f.kind === 'refuse'
    ? { kind: 'refuse', code: f.code!, evaluator: f.evaluator, reason: f.reason }
    : { kind: 'invalidate', evaluator: f.evaluator, reason: f.reason, targetKind: f.targetKind!, targetId: f.targetId! }
}

describe('every refuse code x every evaluator, every scope kind, on every route (test-faults addon)', () => {
  let out: ChildOutput
  const forced = matrix()

  beforeAll(() => {
    const addon = buildTestFaultsAddon()
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(__dirname, 'fixtures/verdict-encodings.ts'), REDIS_URL, prefix('forced')], {
      cwd: ROOT,
      encoding: 'utf8',
      input: JSON.stringify(forced),
      timeout: 120_000,
      env: { ...process.env, NAPI_RS_NATIVE_LIBRARY_PATH: addon },
    })
    expect(r.error, 'the child must exit by itself').toBeUndefined()
    expect(r.status, r.stderr).toBe(0)
    out = JSON.parse(r.stdout.trim().split('\n').pop()!) as ChildOutput
  }, 1_200_000)

  test('the matrix covers every refuse code, evaluator and scope kind', () => {
    expect(REFUSE_CODES.length).toBe(10)
    expect(forced.filter((f) => f.kind === 'refuse')).toHaveLength(REFUSE_CODES.length * EVALUATORS.length)
    expect(new Set(forced.map((f) => f.targetKind).filter(Boolean))).toEqual(new Set(['session', 'principal', 'role']))
  })

  const ROUTES: Array<[route: string, general: boolean, observed: boolean]> = [
    ['sync fast', false, false],
    ['sync raw (wide context)', true, false],
    ['sync raw (observed twin)', false, true],
    ['batch text (event loop)', false, false],
    ['batch raw (event loop)', false, true],
    ['batch text (thread pool)', false, false],
    ['batch raw (thread pool)', false, true],
    ['raw async (event-loop gate)', true, false],
    ['raw async (thread-pool gate)', true, false],
  ]
  test.each(ROUTES)('%s', (route, general, observed) => {
    const got = out.routes[route]!
    expect(got.verdicts).toHaveLength(forced.length)
    expect(got.rawCalls).toBe(general ? forced.length : 0)
    const ids = new Set<string>()
    forced.forEach((f, i) => {
      const e = expectedOf(f)
      const v = got.verdicts[i]!
      // JSON drops `undefined` fields, which `toEqual` treats as absent.
      expect(v, `${route}: ${JSON.stringify(f)}`).toEqual({
        ...fields(e),
        evaluationId: expect.stringMatching(UUID),
        observed: observed ? fields(e) : undefined,
      })
      ids.add(v.evaluationId)
    })
    expect(ids.size).toBe(forced.length)
  })

  test('BATCH_FAILED: an evaluation that ends without a verdict rejects with INTERNAL', () => {
    expect(out.failed.code).toBe('INTERNAL')
    expect(out.failed.message).toMatch(/ended without a verdict/)
  })
})
