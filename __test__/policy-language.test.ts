import { stringify } from 'smol-toml'
import { describe, expect, test } from 'vitest'

import { Gate, PolicyParseError, type EvaluateOptions, type GateOptions, type Policy, type PolicySetInput } from '../index'

// 2026-01-15 12:00:00 UTC (a Thursday); Asia/Kolkata is UTC+05:30.
const NOON_UTC = Date.UTC(2026, 0, 15, 12, 0, 0)
const at = (h: number, m = 0) => Date.UTC(2026, 0, 15, h, m, 0)
const base = { enableDrift: false } satisfies GateOptions

const one = (conditions: Policy['conditions'], effect: 'permit' | 'refuse' = 'permit'): PolicySetInput => ({
  policies: [{ name: 'p', effect, conditions }],
})
const ctx = (o: Partial<EvaluateOptions> = {}): EvaluateOptions => ({ principalId: 'u1', principalKind: 'user', actionName: 'act', ...o })
const permits = (set: PolicySetInput, c: EvaluateOptions, opts: GateOptions = {}) =>
  Gate.fromObject(set, { ...base, testClock: { nowMs: NOON_UTC }, ...opts }).evaluate(c).isPermit

describe('conditions', () => {
  test('identity_kind, identity_role, identity_id', () => {
    expect(permits(one([{ identity_kind: 'agent' }]), ctx({ principalKind: 'agent' }))).toBe(true)
    expect(permits(one([{ identity_kind: 'agent' }]), ctx({ principalKind: 'user' }))).toBe(false)
    expect(permits(one([{ identity_role: 'support' }]), ctx({ roles: ['ops', 'support'] }))).toBe(true)
    expect(permits(one([{ identity_role: 'support' }]), ctx({ roles: ['Support'] }))).toBe(false)
    expect(permits(one([{ identity_role: 'support' }]), ctx())).toBe(false)
    expect(permits(one([{ identity_id: 'u1' }]), ctx())).toBe(true)
    expect(permits(one([{ identity_id: 'u1' }]), ctx({ principalId: 'u10' }))).toBe(false)
  })

  test('action patterns: exact, prefix with * and .*, * alone', () => {
    const cases: [string, string, boolean][] = [
      ['refund', 'refund', true],
      ['refund', 'refund.issue', false],
      ['refund.*', 'refund.issue', true],
      ['refund.*', 'refund', true],
      ['refund.*', 'refunds', true],
      ['refund*', 'refund_issue', true],
      ['refund*', 'refun', false],
      ['*', 'anything.at.all', true],
      ['Refund', 'refund', false],
    ]
    for (const [pattern, action, expected] of cases) {
      expect([pattern, action, permits(one([{ action: pattern }]), ctx({ actionName: action }))]).toEqual([pattern, action, expected])
    }
  })

  test('resource: same patterns; no resource is false', () => {
    expect(permits(one([{ resource: 'orders/*' }]), ctx({ resource: 'orders/7' }))).toBe(true)
    expect(permits(one([{ resource: 'orders/*' }]), ctx({ resource: 'users/7' }))).toBe(false)
    expect(permits(one([{ resource: 'orders/*' }]), ctx())).toBe(false)
    expect(permits(one([{ resource: '*' }]), ctx())).toBe(false)
  })

  test('param_max / param_min: inclusive bounds; missing or non-numeric is false', () => {
    const max = one([{ param_max: { field: 'amount', max: 1000 } }])
    expect(permits(max, ctx({ params: { amount: 1000 } }))).toBe(true)
    expect(permits(max, ctx({ params: { amount: 1000.01 } }))).toBe(false)
    expect(permits(max, ctx({ params: { amount: -5 } }))).toBe(true)
    expect(permits(max, ctx())).toBe(false)
    expect(permits(max, ctx({ params: { amount: '5' } }))).toBe(false)
    const min = one([{ param_min: { field: 'amount', min: 10 } }])
    expect(permits(min, ctx({ params: { amount: 10 } }))).toBe(true)
    expect(permits(min, ctx({ params: { amount: 9.99 } }))).toBe(false)
    expect(permits(min, ctx({ params: { other: 100 } }))).toBe(false)
  })

  test('param_in: case-sensitive strings; a number never matches', () => {
    const p = one([{ param_in: { field: 'currency', values: ['INR', 'USD', '1'] } }])
    expect(permits(p, ctx({ params: { currency: 'INR' } }))).toBe(true)
    expect(permits(p, ctx({ params: { currency: 'inr' } }))).toBe(false)
    expect(permits(p, ctx({ params: { currency: 1 } }))).toBe(false)
    expect(permits(p, ctx())).toBe(false)
  })

  test('rate_limit: exactly max permits, max+1 refuses naming the policy; refused attempts count', () => {
    const gate = Gate.fromObject({ policies: [{ name: 'three_an_hour', effect: 'permit', conditions: [{ rate_limit: { max: 3, window: '1h' } }] }] }, { ...base, testClock: { nowMs: NOON_UTC } })
    for (let i = 0; i < 3; i++) expect(gate.evaluate(ctx()).isPermit).toBe(true)
    const v = gate.evaluate(ctx())
    expect(v.code).toBe('RATE_LIMIT_EXCEEDED')
    expect(v.reason).toContain('three_an_hour')
    expect(v.reason).toContain('1h')
    // Other principals have their own counter.
    expect(gate.evaluate(ctx({ principalId: 'u2' })).isPermit).toBe(true)
    // The window slides: an hour later the slots are free again.
    gate.setTestNow(NOON_UTC + 3_600_001)
    expect(gate.evaluate(ctx()).isPermit).toBe(true)
  })

  test('session_age_max: age <= duration; no session fields is a fresh session (holds)', () => {
    const p = one([{ session_age_max: '1h' }])
    const now = NOON_UTC / 1000
    expect(permits(p, ctx({ sessionStartedAt: now - 3600 }))).toBe(true)
    expect(permits(p, ctx({ sessionStartedAt: now - 3601 }))).toBe(false)
    expect(permits(p, ctx({ sessionStartedAt: now + 60 }))).toBe(true)
    expect(permits(p, ctx())).toBe(true)
  })

  test('time_window: start inclusive, end exclusive, overnight wraps, zones apply', () => {
    const check = (window: string, nowMs: number) => permits(one([{ time_window: window }]), ctx(), { testClock: { nowMs } })
    expect(check('09:00-18:00', at(9))).toBe(true)
    expect(check('09:00-18:00', at(17, 59))).toBe(true)
    expect(check('09:00-18:00', at(18))).toBe(false)
    expect(check('09:00-18:00', at(8, 59))).toBe(false)
    expect(check('22:00-06:00', at(23))).toBe(true)
    expect(check('22:00-06:00', at(2))).toBe(true)
    expect(check('22:00-06:00', at(6))).toBe(false)
    expect(check('22:00-06:00', at(12))).toBe(false)
    // 04:00 UTC is 09:30 in Kolkata.
    expect(check('09:00-18:00 Asia/Kolkata', at(4))).toBe(true)
    expect(check('09:00-18:00 Asia/Kolkata', at(3))).toBe(false)
    expect(check('09:00-18:00 Asia/Kolkata', at(12, 29))).toBe(true)
    expect(check('09:00-18:00 Asia/Kolkata', at(12, 30))).toBe(false)
  })

  test('conditions are AND-ed; [] matches everything', () => {
    const p = one([{ identity_kind: 'agent' }, { action: 'refund' }])
    expect(permits(p, ctx({ principalKind: 'agent', actionName: 'refund' }))).toBe(true)
    expect(permits(p, ctx({ principalKind: 'agent', actionName: 'other' }))).toBe(false)
    expect(permits(one([]), ctx({ actionName: 'whatever' }))).toBe(true)
  })
})

describe('policy order and outcomes', () => {
  test('lower priority first; ties keep declaration order; refuse is POLICY_DENIED naming the policy', () => {
    const gate = Gate.fromObject({
      policies: [
        { name: 'allow_all', effect: 'permit', priority: 1000, conditions: [] },
        { name: 'block_delete', effect: 'refuse', priority: 10, conditions: [{ action: 'delete' }] },
        { name: 'first_tie', effect: 'refuse', priority: 100, conditions: [{ action: 'tie' }] },
        { name: 'second_tie', effect: 'permit', priority: 100, conditions: [{ action: 'tie' }] },
      ],
    }, base)
    const del = gate.evaluate(ctx({ actionName: 'delete' }))
    expect(del.code).toBe('POLICY_DENIED')
    expect(del.reason).toContain('block_delete')
    expect(gate.evaluate(ctx({ actionName: 'read' })).isPermit).toBe(true)
    expect(gate.evaluate(ctx({ actionName: 'tie' })).code).toBe('POLICY_DENIED')
  })

  test('policy (TOML-style alias) is accepted at the top level', () => {
    expect(permits({ policy: [{ name: 'p', effect: 'permit', conditions: [] }] }, ctx())).toBe(true)
    const g = Gate.fromToml('[[policy]]\nname = "p"\neffect = "permit"\nconditions = []\n', base)
    expect(g.evaluate(ctx()).isPermit).toBe(true)
  })
})

describe('malformed policies are rejected naming the key', () => {
  const p = (extra: Record<string, unknown>) => ({ policies: [{ name: 'x', effect: 'permit', conditions: [], ...extra }] })
  const c = (cond: unknown) => p({ conditions: [cond] })
  const cases: [string, unknown, string][] = [
    ['unknown condition', c({ idnetity_kind: 'agent' }), 'idnetity_kind'],
    ['unknown policy key', p({ efect: 'permit' }), 'efect'],
    ['bad effect', p({ effect: 'allow' }), 'effect'],
    ['missing name', { policies: [{ effect: 'permit', conditions: [] }] }, 'name'],
    ['missing conditions', { policies: [{ name: 'x', effect: 'permit' }] }, 'conditions'],
    ['conditions not an array', p({ conditions: { action: 'a' } }), 'conditions'],
    ['bad window unit', c({ rate_limit: { max: 5, window: '24x' } }), 'window'],
    ['window without unit', c({ rate_limit: { max: 5, window: '24' } }), 'window'],
    ['rate max negative', c({ rate_limit: { max: -1, window: '1h' } }), 'max'],
    ['rate max fractional', c({ rate_limit: { max: 1.5, window: '1h' } }), 'max'],
    ['rate unknown key', c({ rate_limit: { max: 5, windo: '1h' } }), 'windo'],
    ['rate_limit in a refuse policy (would fail open)', p({ effect: 'refuse', conditions: [{ rate_limit: { max: 5, window: '1h' } }] }), 'rate_limit'],
    ['param_max missing field', c({ param_max: { max: 5 } }), 'field'],
    ['param_max NaN', c({ param_max: { field: 'a', max: Number.NaN } }), 'max'],
    ['param_max Infinity', c({ param_max: { field: 'a', max: Number.POSITIVE_INFINITY } }), 'max'],
    ['param_min string', c({ param_min: { field: 'a', min: '5' } }), 'min'],
    ['param_min unknown key', c({ param_min: { field: 'a', mn: 5 } }), 'mn'],
    ['param_in values not array', c({ param_in: { field: 'a', values: 'INR' } }), 'values'],
    ['param_in number value', c({ param_in: { field: 'a', values: ['INR', 5] } }), 'values'],
    ['time_window hours', c({ time_window: '25:00-26:00' }), 'time_window'],
    ['time_window zone', c({ time_window: '09:00-18:00 Mars/Olympus' }), 'Mars/Olympus'],
    ['session_age_max prose', c({ session_age_max: '8 hours' }), 'session_age_max'],
    ['identity_kind unknown', c({ identity_kind: 'robot' }), 'identity_kind'],
    ['empty action', c({ action: '' }), 'action'],
    ['glob in the middle', c({ action: 're*fund' }), 'action'],
    ['priority string', p({ priority: 'high' }), 'priority'],
    ['description number', p({ description: 5 }), 'description'],
    ['top-level typo', { polices: [] }, 'polices'],
    ['two keys in one condition', c({ action: 'a', resource: 'b' }), 'resource'],
    ['duplicate names', { policies: [{ name: 'x', effect: 'permit', conditions: [] }, { name: 'x', effect: 'refuse', conditions: [] }] }, 'duplicate'],
    ['both policies and policy', { policies: [], policy: [] }, 'policies'],
  ]
  test.each(cases)('%s', (_label, doc, key) => {
    for (const load of [() => Gate.fromObject(doc as never), ...(JSON.stringify(doc).includes('null') ? [] : [() => Gate.fromJsonString(JSON.stringify(doc))])]) {
      let err: unknown
      try {
        load()
      } catch (e) {
        err = e
      }
      expect(err).toBeInstanceOf(PolicyParseError)
      expect((err as PolicyParseError).code).toBe('POLICY_PARSE')
      expect((err as Error).message).toContain(key)
    }
  })

  test('TOML-specific: datetimes, nan, syntax errors name the key or line', () => {
    expect(() => Gate.fromToml('[[policy]]\nname = "x"\neffect = "permit"\nconditions = [{ session_age_max = 1979-05-27 }]\n')).toThrow(/session_age_max/)
    expect(() => Gate.fromToml('[[policy]]\nname = "x"\neffect = "permit"\nconditions = [{ param_max = { field = "a", max = nan } }]\n')).toThrow(/max/)
    expect(() => Gate.fromToml('[[policy]]\nname = "x"\neffect = "permit"\nconditions = [{ idnetity_kind = "agent" }]\n')).toThrow(/policy 'x'.*idnetity_kind/)
    expect(() => Gate.fromToml('[[policy]\nname = "x"')).toThrow(PolicyParseError)
  })
})

// --- format equivalence: object, JSON and TOML load the same policies ---

function rng(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const KINDS = ['user', 'agent', 'service', 'scheduler', 'external'] as const
const ACTIONS = ['refund.issue', 'refund.view', 'report', 'delete', 'refunds']
const PATTERNS = [...ACTIONS, 'refund.*', 'refund*', '*', 're*']

function generate(r: () => number): { set: { policies: Policy[] }; contexts: EvaluateOptions[] } {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!
  const conditionMakers: (() => Policy['conditions'][number])[] = [
    () => ({ identity_kind: pick(KINDS) }),
    () => ({ identity_role: pick(['support', 'admin', 'ops']) }),
    () => ({ identity_id: pick(['u1', 'u2', 'bot']) }),
    () => ({ action: pick(PATTERNS) }),
    () => ({ resource: pick(['orders/*', 'orders/1', 'users/*', '*']) }),
    () => ({ param_max: { field: 'amount', max: pick([0, 100, 999.5, 1000, -3]) } }),
    () => ({ param_min: { field: 'amount', min: pick([0, 50, 100.25]) } }),
    () => ({ param_in: { field: 'currency', values: pick([['INR'], ['USD', 'EUR'], ['INR', 'USD']]) } }),
    () => ({ rate_limit: { max: pick([1, 2, 3]), window: pick(['1h', '30m', '2d']) } }),
    () => ({ session_age_max: pick(['10m', '1h', '90s']) }),
    () => ({ time_window: pick(['09:00-18:00', '22:00-06:00', '09:00-18:00 Asia/Kolkata', '13:00-14:00 America/New_York']) }),
  ]
  const policies: Policy[] = []
  const n = 1 + Math.floor(r() * 5)
  for (let i = 0; i < n; i++) {
    const effect = r() < 0.7 ? 'permit' : 'refuse'
    // rate_limit is a load error in refuse policies (it would fail open), so only permits get one.
    const makers = effect === 'permit' ? conditionMakers : conditionMakers.filter((_, i) => i !== 8)
    const conditions = Array.from({ length: Math.floor(r() * 4) }, () => pick(makers)())
    const policy: Policy = { name: `p${i}`, effect, conditions }
    if (r() < 0.4) policy.priority = pick([1, 50, 100, 200])
    if (r() < 0.3) policy.description = `policy number ${i}`
    policies.push(policy)
  }
  const contexts = Array.from({ length: 6 }, () => {
    const c: EvaluateOptions = { principalId: pick(['u1', 'u2', 'bot']), principalKind: pick(KINDS), actionName: pick(ACTIONS) }
    if (r() < 0.6) c.roles = [pick(['support', 'admin', 'ops'])]
    if (r() < 0.6) c.resource = pick(['orders/1', 'orders/2', 'users/9'])
    const params: Record<string, number | string> = {}
    if (r() < 0.8) params.amount = r() < 0.85 ? pick([0, 50, 100, 999.5, 1000, 5000, -3]) : 'lots'
    if (r() < 0.6) params.currency = r() < 0.85 ? pick(['INR', 'USD', 'EUR', 'inr']) : 7
    c.params = params
    if (r() < 0.5) c.sessionStartedAt = NOON_UTC / 1000 - pick([0, 60, 600, 3600, 7200])
    return c
  })
  return { set: { policies }, contexts }
}

describe('format equivalence', () => {
  test('300 random policy sets x contexts: object, JSON and TOML never diverge', () => {
    const r = rng(0x5eed)
    let evaluations = 0
    const kinds = new Set<string>()
    for (let i = 0; i < 300; i++) {
      const { set, contexts } = generate(r)
      const opts: GateOptions = { ...base, testClock: { nowMs: NOON_UTC + Math.floor(r() * 24) * 3_600_000 } }
      const gates = [
        Gate.fromObject(set, opts),
        Gate.fromJsonString(JSON.stringify(set), opts),
        Gate.fromToml(stringify({ policy: set.policies }), opts),
      ]
      for (const c of contexts) {
        const [a, b, t] = gates.map((g) => g.evaluate(c)).map((v) => [v.kind, v.code, v.evaluator, v.reason])
        expect(b, `set ${i} JSON vs object`).toEqual(a)
        expect(t, `set ${i} TOML vs object`).toEqual(a)
        kinds.add(String(a![1] ?? a![0]))
        evaluations++
      }
    }
    expect(evaluations).toBe(1800)
    // The generator exercises every outcome, so agreement is not agreement on "refuse".
    expect([...kinds].sort()).toEqual(['NO_POLICY_MATCH', 'POLICY_DENIED', 'RATE_LIMIT_EXCEEDED', 'permit'])
  })
})

describe('numbers in a policy are read exactly by every loader', () => {
  /** The next double above `x` (x > 0, finite). */
  function nextUp(x: number): number {
    const f = new Float64Array([x])
    const b = new BigUint64Array(f.buffer)
    b[0]! += 1n
    return f[0]!
  }
  // Doubles of 16-17 significant digits, written as JavaScript writes them (a deterministic
  // spread of magnitudes; two found to be misread by a non-round-trip parser among them).
  const bounds = [1967.3500000000001, 369.04686883069957]
  let seed = 0x2545f491
  for (let i = 0; i < 300; i++) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0
    bounds.push((seed / 2 ** 32) * 10 ** ((i % 12) - 3))
  }

  test('param_max of a 17-digit bound: the bound itself permits and the next double above refuses, from JSON, TOML and objects alike', () => {
    const set = { policies: bounds.map((max, i) => ({ name: `p${i}`, effect: 'permit' as const, conditions: [{ action: `a${i}` }, { param_max: { field: 'amount', max } }] })) }
    const gates = [Gate.fromObject(set, base), Gate.fromJsonString(JSON.stringify(set), base), Gate.fromToml(stringify({ policy: set.policies }), base)]
    const misread: string[] = []
    for (const [g, gate] of gates.entries()) {
      bounds.forEach((max, i) => {
        const at = gate.evaluate(ctx({ actionName: `a${i}`, params: { amount: max } })).isPermit
        const above = gate.evaluate(ctx({ actionName: `a${i}`, params: { amount: nextUp(max) } })).isPermit
        if (!at || above) misread.push(`${['object', 'JSON', 'TOML'][g]} ${max}`)
      })
    }
    expect(misread).toEqual([])
  })
})

describe('a policy description quoted in a reason', () => {
  test('has its control and invisible characters escaped, never written raw', () => {
    const description = 'no \u001b[31mrefunds\u001b[0m \u202eezilamron\u202c here'
    const gate = Gate.fromObject({ policies: [{ name: 'no_refunds', effect: 'refuse', description, conditions: [] }] }, base)
    const v = gate.evaluate(ctx())
    expect(v.code).toBe('POLICY_DENIED')
    expect(v.reason).toBe("refused by policy 'no_refunds': no \\u{1b}[31mrefunds\\u{1b}[0m \\u{202e}ezilamron\\u{202c} here")
  })
})
