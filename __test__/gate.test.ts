import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { describe, expect, test } from 'vitest'

import {
  ActionContext,
  Gate,
  GeoLocation,
  InMemoryInvalidationBroadcaster,
  KavachKeyPair,
  PqTokenSigner,
  SignedAuditChain,
  InvalidArgumentError,
  InvalidOptionsError,
  IoError,
  KavachError,
  PolicyParseError,
  Refused,
  type EvaluateOptions,
} from '../index'

const QUICK_START = {
  policies: [
    {
      name: 'agent_small_refunds',
      effect: 'permit' as const,
      conditions: [
        { identity_kind: 'agent' as const },
        { action: 'issue_refund' },
        { param_max: { field: 'amount', max: 1000 } },
        { rate_limit: { max: 50, window: '24h' } },
      ],
    },
  ],
}

const refund = (amount: number, extra: Partial<EvaluateOptions> = {}): EvaluateOptions => ({
  principalId: 'agent-bot',
  principalKind: 'agent',
  actionName: 'issue_refund',
  params: { amount },
  ...extra,
})

const PERMIT_ALL = { policies: [{ name: 'all', effect: 'permit' as const, conditions: [] }] }

describe('quick start', () => {
  test('permits within the policy and refuses outside it', () => {
    const gate = Gate.fromObject(QUICK_START, { invariants: [{ name: 'hard_cap', field: 'amount', maxValue: 50_000 }] })
    const v = gate.evaluate(refund(500))
    expect(v.kind).toBe('permit')
    expect(v.isPermit).toBe(true)
    expect(v.tokenId).toMatch(/^[0-9a-f-]{36}$/)
    expect(v.permitToken?.actionName).toBe('issue_refund')
    const r = gate.evaluate(refund(5000))
    expect(r.isRefuse).toBe(true)
    expect(r.code).toBe('NO_POLICY_MATCH')
    expect(r.evaluator).toBe('policy')
  })
})

describe('invariants', () => {
  test('refuse whatever policy said, objects and tuples alike', () => {
    for (const invariants of [[{ name: 'hard_cap', field: 'amount', maxValue: 100 }], [['hard_cap', 'amount', 100] as [string, string, number]]]) {
      const gate = Gate.fromObject(PERMIT_ALL, { invariants })
      expect(gate.evaluate(refund(100)).isPermit).toBe(true)
      const v = gate.evaluate(refund(101))
      expect(v.code).toBe('INVARIANT_VIOLATION')
      expect(v.evaluator).toBe('invariants')
      expect(v.reason).toContain('hard_cap')
    }
  })

  test('an invariant on a field the action does not carry does not apply', () => {
    const gate = Gate.fromObject(PERMIT_ALL, { invariants: [['hard_cap', 'amount', 100]] })
    expect(gate.evaluate({ principalId: 'u', principalKind: 'user', actionName: 'read', params: { other: 1e9 } }).isPermit).toBe(true)
  })

  test('maxSessionActions refuses the (N+1)th permitted action in one session', () => {
    const gate = Gate.fromObject(PERMIT_ALL, { maxSessionActions: 3 })
    for (let i = 0; i < 3; i++) expect(gate.evaluate(refund(1, { sessionId: 's-1' })).isPermit).toBe(true)
    const v = gate.evaluate(refund(1, { sessionId: 's-1' }))
    expect(v.code).toBe('INVARIANT_VIOLATION')
    expect(v.reason).toContain('max_session_actions')
    expect(gate.evaluate(refund(1, { sessionId: 's-2' })).isPermit).toBe(true)
  })

  test('the in-process store keeps an idle session for sessionIdleSeconds (default 1 h), its action count with it', () => {
    const t0 = 1_700_000_000_000
    const day = Gate.fromObject(PERMIT_ALL, { maxSessionActions: 2, sessionIdleSeconds: 86_400, testClock: { nowMs: t0 } })
    const hour = Gate.fromObject(PERMIT_ALL, { maxSessionActions: 2, testClock: { nowMs: t0 } })
    for (const gate of [day, hour]) {
      for (let i = 0; i < 2; i++) expect(gate.evaluate(refund(1, { sessionId: 's-1' })).isPermit).toBe(true)
      gate.setTestNow(t0 + 2 * 3_600_000)
    }
    // Two idle hours: still the same session for `day`, so the cap holds.
    expect(day.evaluate(refund(1, { sessionId: 's-1' })).code).toBe('INVARIANT_VIOLATION')
    // Past the default hour the session was forgotten: it starts again, counted from zero.
    expect(hour.evaluate(refund(1, { sessionId: 's-1' })).isPermit).toBe(true)
    // Idle longer than its own bound, `day` forgets it too.
    day.setTestNow(t0 + 2 * 3_600_000 + 86_401_000)
    expect(day.evaluate(refund(1, { sessionId: 's-1' })).isPermit).toBe(true)
  })
})

describe('options', () => {
  test('observeOnly permits and reports the would-be verdict', () => {
    const gate = Gate.fromObject({ policies: [] }, { observeOnly: true })
    const v = gate.evaluate(refund(1))
    expect(v.isPermit).toBe(true)
    expect(v.permitToken?.observeOnly).toBe(true)
    expect(v.observed?.kind).toBe('refuse')
    expect(v.observed?.code).toBe('NO_POLICY_MATCH')
  })

  test('permitTtlSeconds sets expiresAt and every permit has a fresh token id', () => {
    const gate = Gate.fromObject(PERMIT_ALL, { permitTtlSeconds: 120, testClock: { nowMs: 1_700_000_000_000 } })
    const a = gate.evaluate(refund(1))
    const b = gate.evaluate(refund(1))
    expect(a.permitToken?.issuedAt).toBe(1_700_000_000)
    expect(a.permitToken?.expiresAt).toBe(1_700_000_120)
    expect(a.tokenId).not.toBe(b.tokenId)
    expect(Gate.fromObject(PERMIT_ALL).evaluate(refund(1)).permitToken!.expiresAt - Gate.fromObject(PERMIT_ALL).evaluate(refund(1)).permitToken!.issuedAt).toBeGreaterThanOrEqual(29)
  })

  test('evaluatorCount is policy + drift (unless disabled) + invariants (if any)', () => {
    expect(Gate.fromObject(PERMIT_ALL).evaluatorCount).toBe(2)
    expect(Gate.fromObject(PERMIT_ALL, { enableDrift: false }).evaluatorCount).toBe(1)
    expect(Gate.fromObject(PERMIT_ALL, { invariants: [['a', 'b', 1]] }).evaluatorCount).toBe(3)
  })

  test.each([
    [{ permitTtlSeconds: 0 }, 'permitTtlSeconds'],
    [{ permitTtlSeconds: 1.5 }, 'permitTtlSeconds'],
    [{ maxSessionActions: -1 }, 'maxSessionActions'],
    [{ geoDriftMaxKm: Number.NaN }, 'geoDriftMaxKm'],
    [{ invariants: [{ name: 'x', field: 'y', maxValue: Number.POSITIVE_INFINITY }] }, 'invariants'],
    [{ invariants: [['x', 'y']] }, 'invariants'],
    [{ observeOnly: 'yes' }, 'observeOnly'],
    [{ obsreveOnly: true }, 'obsreveOnly'],
    [{ tokenSigner: 'not a signer' }, 'tokenSigner'],
    [{ tokenSigner: {} }, 'tokenSigner'],
    [{ rateStore: {} }, 'rateStore'],
    [{ broadcaster: { publish() {} } }, 'broadcaster'],
    [{ audit: new Date() }, 'audit'],
    [{ testClock: { nowMs: 1, offsetMs: 2 } }, 'testClock'],
    [{ sessionIdleSeconds: 0 }, 'sessionIdleSeconds'],
    [{ sessionIdleSeconds: 31_536_001 }, 'sessionIdleSeconds'],
  ])('bad options throw InvalidOptionsError naming the option: %j', (options, name) => {
    const err = (() => {
      try {
        Gate.fromObject(PERMIT_ALL, options as never)
      } catch (e) {
        return e
      }
      return undefined
    })()
    expect(err).toBeInstanceOf(InvalidOptionsError)
    expect((err as KavachError).code).toBe('INVALID_OPTIONS')
    expect((err as Error).message).toContain(name)
  })
})

describe('class-instance options', () => {
  test('tokenSigner signs every permit; observe-only permits stay unsigned', () => {
    const signer = PqTokenSigner.generateHybrid()
    const gate = Gate.fromObject(PERMIT_ALL, { tokenSigner: signer })
    const v = gate.evaluate(refund(1))
    expect(v.signature).toBeInstanceOf(Buffer)
    expect(v.permitToken?.signature?.equals(v.signature!)).toBe(true)
    expect(() => signer.verify(v.permitToken!, v.signature!)).not.toThrow()
    const observed = Gate.fromObject({}, { tokenSigner: signer, observeOnly: true }).evaluate(refund(1))
    expect(observed.isPermit).toBe(true)
    expect(observed.signature).toBeUndefined()
  })

  test('audit receives every verdict; broadcaster is accepted', () => {
    const chain = new SignedAuditChain(KavachKeyPair.generate())
    const gate = Gate.fromObject(QUICK_START, { audit: chain, broadcaster: new InMemoryInvalidationBroadcaster() })
    gate.evaluate(refund(1))
    gate.evaluate(refund(5000))
    expect(chain.length).toBe(2)
  })
})

describe('context', () => {
  const gate = Gate.fromObject(PERMIT_ALL)
  test.each([
    [{ flag: true }, 'flag'],
    [{ nested: { a: 1 } }, 'nested'],
    [{ n: Number.NaN }, 'n'],
    [{ big: Number.POSITIVE_INFINITY }, 'big'],
    [{ small: Number.NEGATIVE_INFINITY }, 'small'],
    [{ nil: null }, 'nil'],
  ])('params %j are rejected naming the param', (params, name) => {
    for (const run of [() => gate.evaluate({ principalId: 'u', principalKind: 'user', actionName: 'a', params: params as never }), () => new ActionContext({ principalId: 'u', principalKind: 'user', actionName: 'a', params: params as never })]) {
      expect(run).toThrow(InvalidArgumentError)
      expect(run).toThrow(`'${name}'`)
    }
  })

  test('async evaluation rejects bad params the same way', async () => {
    await expect(gate.evaluateAsync({ principalId: 'u', principalKind: 'user', actionName: 'a', params: { b: true as never } })).rejects.toThrow(InvalidArgumentError)
  })

  test('unknown principalKind is rejected naming it', () => {
    expect(() => gate.evaluate({ principalId: 'u', principalKind: 'robot' as never, actionName: 'a' })).toThrow(/principalKind.*'robot'/)
    expect(() => new ActionContext({ principalId: 'u', principalKind: 'robot' as never, actionName: 'a' })).toThrow(/principalKind.*'robot'/)
  })

  test('missing or empty required fields are argument errors', () => {
    expect(() => gate.evaluate({ principalKind: 'user', actionName: 'a' } as never)).toThrow(InvalidArgumentError)
    expect(() => gate.evaluate({ principalId: '', principalKind: 'user', actionName: 'a' })).toThrow(/principalId/)
    expect(() => gate.evaluate({ principalId: 'u', principalKind: 'user', actionName: '' })).toThrow(/actionName/)
  })

  test('ActionContext and GeoLocation validate eagerly and evaluate like plain objects', () => {
    const ctx = new ActionContext({
      principalId: 'agent-bot',
      principalKind: 'agent',
      actionName: 'issue_refund',
      roles: ['support'],
      params: { amount: 5, order: 'ORD-1' },
      currentGeo: new GeoLocation('IN', { city: 'Mumbai', latitude: 19.07, longitude: 72.87 }),
      device: { hash: 'abc' },
    })
    expect(ctx.roles).toEqual(['support'])
    expect(gate.evaluate(ctx).isPermit).toBe(true)
    expect(() => new GeoLocation('IN', { latitude: 91 })).toThrow(/latitude/)
    expect(() => new GeoLocation('')).toThrow(/countryCode/)
    expect(() => gate.evaluate({ principalId: 'u', principalKind: 'user', actionName: 'a', currentGeo: { countryCode: 'IN', longitude: 500 } })).toThrow(/currentGeo.longitude/)
    expect(() => new ActionContext({ principalId: 'u', principalKind: 'user', actionName: 'a', sessionStartedAt: -5 })).toThrow(/sessionStartedAt/)
  })
})

describe('factories', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kavach-gate-'))
  const toml = `[[policy]]\nname = "p"\neffect = "permit"\nconditions = [{ action = "read" }]\n`
  const json = JSON.stringify({ policies: [{ name: 'p', effect: 'permit', conditions: [{ action: 'read' }] }] })
  const read: EvaluateOptions = { principalId: 'u', principalKind: 'user', actionName: 'read' }
  const write: EvaluateOptions = { principalId: 'u', principalKind: 'user', actionName: 'write' }

  test('all five loaders give the same answers', () => {
    writeFileSync(join(dir, 'p.toml'), toml)
    writeFileSync(join(dir, 'p.json'), json)
    const gates = [
      Gate.fromObject(JSON.parse(json)),
      Gate.fromDict(JSON.parse(json)),
      Gate.fromJsonString(json),
      Gate.fromJsonFile(join(dir, 'p.json')),
      Gate.fromToml(toml),
      Gate.fromFile(join(dir, 'p.toml')),
      Gate.fromFile(join(dir, 'p.json')),
    ]
    for (const g of gates) {
      expect(g.evaluate(read).kind).toBe('permit')
      expect(g.evaluate(write).code).toBe('NO_POLICY_MATCH')
    }
  })

  test('a missing file is an IoError naming the path', () => {
    expect(() => Gate.fromFile(join(dir, 'nope.toml'))).toThrow(IoError)
    expect(() => Gate.fromJsonFile(join(dir, 'nope.json'))).toThrow(/nope\.json/)
  })

  test('empty sets refuse everything (kill switch)', () => {
    for (const g of [Gate.fromToml(''), Gate.fromObject({}), Gate.fromObject({ policies: [] }), Gate.fromJsonString('{}')]) {
      expect(g.evaluate(read).code).toBe('NO_POLICY_MATCH')
    }
  })
})

describe('check, async, reload', () => {
  test('check throws Refused with [CODE] evaluator: reason; checkAsync rejects the same', async () => {
    const gate = Gate.fromObject(QUICK_START)
    expect(() => gate.check(refund(1))).not.toThrow()
    expect(() => gate.check(refund(5000))).toThrow(Refused)
    expect(() => gate.check(refund(5000))).toThrow(/^\[NO_POLICY_MATCH\] policy: /)
    await expect(gate.checkAsync(refund(1))).resolves.toBeUndefined()
    await expect(gate.checkAsync(refund(5000))).rejects.toBeInstanceOf(Refused)
  })

  test('evaluate and evaluateAsync give the same answers', async () => {
    const gate = Gate.fromObject(QUICK_START)
    for (const amount of [1, 999, 1000, 1001, 1e6]) {
      const s = gate.evaluate(refund(amount))
      const a = await gate.evaluateAsync(refund(amount))
      expect([a.kind, a.code, a.evaluator, a.reason]).toEqual([s.kind, s.code, s.evaluator, s.reason])
    }
  })

  test('reload swaps atomically; a bad reload throws and keeps the old set', () => {
    const gate = Gate.fromObject(PERMIT_ALL)
    expect(gate.evaluate(refund(1)).isPermit).toBe(true)
    expect(() => gate.reload('[[policy]]\nname = "x"\neffect = "allow"\nconditions = []\n')).toThrow(PolicyParseError)
    expect(() => gate.reloadJson('{ not json')).toThrow(PolicyParseError)
    expect(() => gate.reloadObject({ policies: [{ name: 'x', effect: 'permit', conditions: [{ idnetity_kind: 'agent' }] }] } as never)).toThrow(/idnetity_kind/)
    expect(gate.evaluate(refund(1)).isPermit).toBe(true)
    gate.reloadJson(JSON.stringify({ policies: [{ name: 'deny', effect: 'refuse', conditions: [] }] }))
    const v = gate.evaluate(refund(1))
    expect(v.code).toBe('POLICY_DENIED')
    expect(v.reason).toContain('deny')
    gate.reload('')
    expect(gate.evaluate(refund(1)).code).toBe('NO_POLICY_MATCH')
    gate.reloadObject(PERMIT_ALL)
    expect(gate.evaluate(refund(1)).isPermit).toBe(true)
  })

  test('reload under concurrent evaluateAsync: every answer is from the old or the new set', async () => {
    const gate = Gate.fromObject(PERMIT_ALL, { enableDrift: false })
    const pending: Promise<{ kind: string; code?: string }>[] = []
    for (let i = 0; i < 2000; i++) {
      pending.push(gate.evaluateAsync(refund(1)))
      if (i === 1000) gate.reloadObject({ policies: [{ name: 'deny', effect: 'refuse', conditions: [] }] })
    }
    const results = await Promise.all(pending)
    for (const r of results) expect(r.kind === 'permit' || r.code === 'POLICY_DENIED').toBe(true)
    expect(results.filter((r) => r.kind === 'permit').length).toBeGreaterThan(0)
    expect((await gate.evaluateAsync(refund(1))).code).toBe('POLICY_DENIED')
  })

  test('thousands of concurrent evaluateAsync calls count consistently', async () => {
    const gate = Gate.fromObject({
      policies: [{ name: 'limited', effect: 'permit', conditions: [{ rate_limit: { max: 1000, window: '1h' } }] }],
    })
    const results = await Promise.all(Array.from({ length: 3000 }, () => gate.evaluateAsync(refund(1))))
    expect(results.filter((r) => r.isPermit).length).toBe(1000)
    expect(results.filter((r) => r.code === 'RATE_LIMIT_EXCEEDED').length).toBe(2000)
  })

  test('lift validates its scope; close resolves; setTestNow needs a test clock', async () => {
    const gate = Gate.fromObject(PERMIT_ALL)
    expect(() => gate.lift({ targetKind: 'principal', targetId: 'agent-bot' })).not.toThrow()
    expect(() => gate.lift({ targetKind: 'galaxy' as never, targetId: 'x' })).toThrow(/targetKind.*'galaxy'/)
    expect(() => gate.setTestNow(1)).toThrow(InvalidArgumentError)
    await expect(gate.close()).resolves.toBeUndefined()
    expect(gate.supportsSync).toBe(true)
  })
})

// The sync hot path packs the common context into a shared buffer and one string; anything
// unusual (many params, odd values) takes the typed path. Both must answer identically.
describe('hot path and typed path agree', () => {
  const gate = Gate.fromObject(
    {
      policies: [
        {
          name: 'रिफ़ंड_नीति',
          effect: 'permit',
          conditions: [
            { action: 'वापसी.*' },
            { param_max: { field: 'राशि', max: 1000 } },
            { param_in: { field: 'मुद्रा', values: ['₹', 'USD'] } },
          ],
        },
        { name: 'many', effect: 'permit', conditions: [{ action: 'bulk' }, { param_max: { field: 'p10', max: 10 } }, { param_in: { field: 'p3', values: ['x3'] } }] },
      ],
    },
    { enableDrift: false },
  )

  test('non-ASCII ids, actions, param names and string values', () => {
    const base = { principalId: 'एजेंट-😀', principalKind: 'agent' as const, actionName: 'वापसी.जारी' }
    expect(gate.evaluate({ ...base, params: { राशि: 999, मुद्रा: '₹' } }).isPermit).toBe(true)
    const over = gate.evaluate({ ...base, params: { राशि: 1001, मुद्रा: '₹' } })
    expect(over).toMatchObject({ kind: 'refuse', code: 'NO_POLICY_MATCH' })
    expect(gate.evaluate({ ...base, params: { राशि: 5, मुद्रा: '€' } }).isPermit).toBe(false)
    const permit = gate.evaluate({ ...base, params: { राशि: 5, मुद्रा: 'USD' } })
    expect(permit.permitToken?.actionName).toBe('वापसी.जारी')
  })

  test('more than eight params, numbers and strings mixed', async () => {
    const params: Record<string, number | string> = {}
    for (let i = 0; i < 12; i++) params[`p${i}`] = i % 3 === 0 ? `x${i}` : i
    const ctx = { principalId: 'bot', principalKind: 'service' as const, actionName: 'bulk', params }
    expect(gate.evaluate(ctx).isPermit).toBe(true)
    expect((await gate.evaluateAsync(ctx)).isPermit).toBe(true)
    const refused = gate.evaluate({ ...ctx, params: { ...params, p10: 11 } })
    expect(refused).toMatchObject({ kind: 'refuse', code: 'NO_POLICY_MATCH' })
    expect(() => gate.evaluate({ ...ctx, params: { ...params, p11: Number.NaN } })).toThrow(InvalidArgumentError)
    expect(() => gate.evaluate({ ...ctx, params: { ...params, p11: true as unknown as number } })).toThrow(/p11/)
  })
})
