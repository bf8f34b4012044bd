// gate.explain: the trace names each condition with the values compared, marks the decisive
// step, changes no state, and (property) always reports the verdict evaluate gives next.
import fc from 'fast-check'
import { describe, expect, test } from 'vitest'

import { Gate, KavachKeyPair, PqTokenSigner, SignedAuditChain, type EvaluateOptions, type GateOptions, type Verdict } from '../index'

/** 2026-01-15T16:44:00Z = 22:14 in Kolkata. */
const EVENING_IST = Date.UTC(2026, 0, 15, 16, 44)

const REFUNDS = {
  policies: [
    { name: 'never_delete', effect: 'refuse' as const, priority: 10, conditions: [{ action: 'customer.delete' }] },
    {
      name: 'agent_refunds',
      effect: 'permit' as const,
      conditions: [{ identity_kind: 'agent' as const }, { action: 'issue_refund' }, { param_max: { field: 'amount', max: 1000 } }, { rate_limit: { max: 2, window: '24h' } }],
    },
    { name: 'office_hours', effect: 'permit' as const, conditions: [{ action: 'approve' }, { time_window: '09:00-18:00 Asia/Kolkata' }] },
  ],
}
const agent = (amount: number): EvaluateOptions => ({ principalId: 'agent-7', principalKind: 'agent', actionName: 'issue_refund', params: { amount } })

const summary = (v: Verdict) => ({ kind: v.kind, code: v.code, evaluator: v.evaluator, reason: v.reason })

describe('gate.explain', () => {
  test('each condition with the values compared; the decisive step is marked', () => {
    const gate = Gate.fromObject(REFUNDS, { testClock: { nowMs: EVENING_IST } })
    const e = gate.explain(agent(1200))
    expect(summary(e.verdict)).toEqual(summary(gate.evaluate(agent(1200))))
    const refunds = e.steps.find((s) => s.subject === 'agent_refunds')!
    expect(refunds.outcome).toBe('not matched')
    expect(refunds.checks.map((c) => [c.condition, c.detail, c.holds])).toEqual([
      ['identity_kind', 'kind agent == agent', true],
      ['action', "action 'issue_refund' matches 'issue_refund'", true],
      ['param_max', 'amount 1200 > max 1000', false],
    ])
    const decisive = e.steps.filter((s) => s.decisive)
    expect(decisive.map((s) => s.subject)).toEqual(['(default deny)'])

    const approve = gate.explain({ principalId: 'u', principalKind: 'user', actionName: 'approve' })
    const office = approve.steps.find((s) => s.subject === 'office_hours')!
    expect(office.checks[1]).toEqual({ condition: 'time_window', detail: 'time 22:14 outside 09:00-18:00 Asia/Kolkata', holds: false })
  })

  test('rate limits: the count and when a slot frees, without counting', () => {
    const gate = Gate.fromObject(REFUNDS, { testClock: { nowMs: EVENING_IST } })
    gate.evaluate(agent(10))
    gate.setTestNow(EVENING_IST + 60_000)
    gate.evaluate(agent(10))
    gate.setTestNow(EVENING_IST + 23 * 3600_000 + 23 * 60_000)
    for (let i = 0; i < 5; i++) {
      const e = gate.explain(agent(10))
      expect(e.verdict.code).toBe('RATE_LIMIT_EXCEEDED')
      const check = e.steps.find((s) => s.subject === 'agent_refunds')!.checks.find((c) => c.condition === 'rate_limit')!
      // Evaluating this call would record it too, so the slot after it frees when the
      // second hit (23h22m ago) leaves the window: in 38 minutes, as evaluate's reason says.
      expect(check).toEqual({ condition: 'rate_limit', detail: 'rate 2/2 in 24h, frees in 38 min', holds: false })
    }
    // Once the first hit has left the window, explain says the call fits and evaluate permits once.
    gate.setTestNow(EVENING_IST + 24 * 3600_000 + 1)
    const fits = gate.explain(agent(10))
    expect(fits.verdict.kind).toBe('permit')
    expect(fits.steps.find((s) => s.subject === 'agent_refunds')!.decisive).toBe(true)
    expect(gate.evaluate(agent(10)).kind).toBe('permit')
    expect(gate.evaluate(agent(10)).code).toBe('RATE_LIMIT_EXCEEDED')
  })

  test('changes no state: explaining many times counts nothing and records no session', () => {
    const gate = Gate.fromObject(REFUNDS, { maxSessionActions: 1, testClock: { nowMs: EVENING_IST } })
    const ctx = { ...agent(10), sessionId: 's-1' }
    for (let i = 0; i < 10; i++) expect(gate.explain(ctx).verdict.kind).toBe('permit')
    expect(gate.explain(ctx).steps.find((s) => s.evaluator === 'session')!.outcome).toContain('first sight')
    expect(gate.evaluate(ctx).kind).toBe('permit')
    const capped = gate.explain(ctx)
    expect(summary(capped.verdict)).toEqual(summary(gate.evaluate(ctx)))
    expect(capped.verdict.code).toBe('INVARIANT_VIOLATION')
    expect(capped.steps.at(-1)).toMatchObject({ evaluator: 'invariants', subject: 'max_session_actions', decisive: true })
  })

  test("the caller's text is quoted as reasons quote it: control characters escaped, long values cut", () => {
    const gate = Gate.fromObject({
      policies: [
        { name: 'small', effect: 'permit', conditions: [{ action: 'refund' }, { param_max: { field: 'amount', max: 10 } }] },
        { name: 'rupees', effect: 'permit', conditions: [{ action: 'refund' }, { param_in: { field: 'cur', values: ['INR', 'U\u0007SD'] } }] },
      ],
    })
    const ctx: EvaluateOptions = { principalId: 'a', principalKind: 'agent', actionName: 'refund', sessionId: 's\u001b]0;TITLE\u0007', params: { amount: '5\u001b[31mRED', cur: 'X\u001b[2J\u202e' } }
    const e = gate.explain(ctx)
    expect(e.steps.find((s) => s.evaluator === 'session')!.subject).toBe('s\\u{1b}]0;TITLE\\u{7}')
    expect(e.steps.find((s) => s.subject === 'small')!.checks[1]!.detail).toBe("amount is '5\\u{1b}[31mRED', not a number <= max 10")
    expect(e.steps.find((s) => s.subject === 'rupees')!.checks[1]!.detail).toBe("cur 'X\\u{1b}[2J\\u{202e}' not in [INR, U\\u{7}SD]")
    const long = gate.explain({ ...ctx, sessionId: 'S'.repeat(200), params: { cur: 'C'.repeat(5000) } })
    expect(long.steps.find((s) => s.evaluator === 'session')!.subject).toBe(`${'S'.repeat(100)}… (200 characters)`)
    expect(long.steps.find((s) => s.subject === 'rupees')!.checks[1]!.detail).toBe(`cur '${'C'.repeat(100)}… (5000 characters)' not in [INR, U\\u{7}SD]`)
    // Nothing raw reaches a terminal: no control character is left in any step.
    for (const step of [...e.steps, ...long.steps]) {
      expect(JSON.stringify(step)).not.toMatch(/\\u00(1b|07)|\u202e/)
    }
  })

  test('a malformed context throws what evaluate throws', () => {
    const gate = Gate.fromObject(REFUNDS)
    const ctx = { principalId: '', principalKind: 'agent', actionName: 'x' } as EvaluateOptions
    expect(() => gate.evaluate(ctx)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', message: 'principalId must be a non-empty string' }))
    expect(() => gate.explain(ctx)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', message: 'principalId must be a non-empty string' }))
  })
})

// --- property: explain's verdict is evaluate's, for random policy sets and call sequences ---

const ACTIONS = ['refund', 'refund.big', 'read', 'delete']
const condition = fc.oneof(
  fc.constantFrom('user', 'agent', 'service').map((k) => ({ identity_kind: k })),
  fc.constantFrom('support', 'admin').map((r) => ({ identity_role: r })),
  fc.constantFrom('refund', 'refund.*', 'read', '*', 'delete').map((a) => ({ action: a })),
  fc.integer({ min: 0, max: 100 }).map((max) => ({ param_max: { field: 'amount', max } })),
  fc.integer({ min: 0, max: 100 }).map((min) => ({ param_min: { field: 'amount', min } })),
  fc.subarray(['EUR', 'USD', 'INR'], { minLength: 1 }).map((values) => ({ param_in: { field: 'currency', values } })),
  fc.record({ max: fc.integer({ min: 0, max: 3 }), window: fc.constantFrom('1m', '1h') }).map((rate_limit) => ({ rate_limit })),
  fc.constantFrom('30s', '10m').map((s) => ({ session_age_max: s })),
  fc.constantFrom('09:00-18:00', '22:00-06:00 Asia/Kolkata').map((w) => ({ time_window: w })),
)
const policy = fc
  .record({
    effect: fc.constantFrom('permit' as const, 'refuse' as const),
    priority: fc.integer({ min: 0, max: 3 }),
    conditions: fc.array(condition, { maxLength: 4 }),
  })
  // The loader allows rate limits in permit policies only.
  .map((p) => (p.effect === 'refuse' ? { ...p, conditions: p.conditions.filter((c) => !('rate_limit' in c)) } : p))
const call = fc.record({
  principalId: fc.constantFrom('a', 'b'),
  principalKind: fc.constantFrom('user' as const, 'agent' as const, 'service' as const),
  actionName: fc.constantFrom(...ACTIONS),
  roles: fc.subarray(['support', 'admin']),
  params: fc.record({ amount: fc.integer({ min: -10, max: 120 }), currency: fc.constantFrom('EUR', 'USD', 'GBP') }, { requiredKeys: [] }),
  sessionId: fc.option(fc.constantFrom('s1', 's2'), { nil: undefined }),
  ip: fc.option(fc.constantFrom('10.0.0.1', '10.0.0.2'), { nil: undefined }),
  actionCount: fc.option(fc.integer({ min: 0, max: 4 }), { nil: undefined }),
  advanceMs: fc.constantFrom(0, 0, 1_000, 40_000, 3_600_000),
})
const options = fc.record(
  {
    maxSessionActions: fc.integer({ min: 0, max: 3 }),
    enableDrift: fc.boolean(),
    invariants: fc.constant([{ name: 'cap', field: 'amount', maxValue: 90 }]),
    observeOnly: fc.boolean(),
  },
  { requiredKeys: [] },
)

test('property: explain reports the verdict evaluate returns next (same state), and changes none', () => {
  fc.assert(
    fc.property(fc.array(policy, { maxLength: 6 }), options, fc.array(call, { minLength: 1, maxLength: 12 }), fc.integer({ min: 0, max: 86_399 }), (policies, opts, calls, startSec) => {
      let now = Date.UTC(2026, 0, 15) + startSec * 1000
      const gate = Gate.fromObject({ policies: policies.map((p, i) => ({ name: `p${i}`, ...p })) }, { ...(opts as GateOptions), testClock: { nowMs: now } })
      for (const { advanceMs, ...c } of calls) {
        now += advanceMs
        gate.setTestNow(now)
        const ctx = Object.fromEntries(Object.entries(c).filter(([, v]) => v !== undefined)) as unknown as EvaluateOptions
        const first = gate.explain(ctx)
        const second = gate.explain(ctx)
        const v = gate.evaluate(ctx)
        expect(summary(first.verdict)).toEqual(summary(v))
        expect(summary(second.verdict)).toEqual(summary(v))
        expect(first.verdict.observed === undefined ? undefined : summary(first.verdict.observed as Verdict)).toEqual(v.observed === undefined ? undefined : summary(v.observed as Verdict))
        expect(first.steps.filter((s) => s.decisive).length).toBeLessThanOrEqual(1)
      }
    }),
    { numRuns: 300 },
  )
})

describe('explain refuses where evaluate could not sign or audit the permit', () => {
  const permitAll = { policies: [{ name: 'all', effect: 'permit' as const, conditions: [] }] }
  const ctx: EvaluateOptions = { principalId: 'agent-1', principalKind: 'agent', actionName: 'read' }

  test.each([
    ['a token signer whose key pair expired', { tokenSigner: PqTokenSigner.fromKeypairHybrid(KavachKeyPair.generateWithExpiry(0)) }, 'IDENTITY_FAILED', 'identity'],
    ['an audit chain whose key pair expired', { audit: new SignedAuditChain(KavachKeyPair.generateWithExpiry(0)) }, 'AUDIT_FAILED', 'audit'],
  ] as [string, GateOptions, string, string][])('%s: the same refusal as evaluate, at the step that refuses', (_label, options, code, evaluator) => {
    const gate = Gate.fromObject(permitAll, options)
    const evaluated = gate.evaluate(ctx)
    const explained = gate.explain(ctx)
    expect(evaluated).toMatchObject({ kind: 'refuse', code, evaluator })
    expect(explained.verdict).toMatchObject({ kind: 'refuse', code, evaluator, reason: evaluated.reason })
    expect(explained.steps.at(-1)).toMatchObject({ evaluator, outcome: expect.stringMatching(/^refuse: .*expired/) })
  })
})
