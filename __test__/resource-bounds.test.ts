// Resource bounds through the public API (docs/SECURITY.md, "Resource bounds"): a flood of drift
// invalidations with made-up principals and sessions, past every default bound of the
// in-process stores and the revocation list, refuses no existing, well-behaved principal (nor
// does a flood of one kind alone: principal revocations, rate keys); a `sessionStartedAt` ahead
// of the clock or in milliseconds is INVALID_CONTEXT; and the allowed clock skew is a validated
// gate option.

import { describe, expect, test } from 'vitest'

import { Gate, type EvaluateOptions } from '../index'

const DEFAULT_BOUND = 100_000
const PAST_BOUND = 20

const POLICY = { policies: [{ name: 'reads', effect: 'permit' as const, conditions: [{ action: 'read' }, { rate_limit: { max: 1000, window: '1h' } }] }] }

function call(principalId: string, extra: Partial<EvaluateOptions> = {}): EvaluateOptions {
  return { principalId, principalKind: 'agent', actionName: 'read', ...extra }
}

describe('one caller cannot refuse everyone', () => {
  test('a drift-invalidation flood past every default bound leaves existing and new principals permitted', () => {
    const gate = Gate.fromObject(POLICY)
    const good = call('good-agent', { sessionId: 'good-session', ip: '10.0.0.1' })
    const goodNoSession = call('good-agent-2', { ip: '10.0.0.2' })
    expect(gate.evaluate(good).kind).toBe('permit')
    expect(gate.evaluate(goodNoSession).kind).toBe('permit')

    const kinds = new Map<string, number>()
    for (let i = 0; i < DEFAULT_BOUND + PAST_BOUND; i++) {
      const v = gate.evaluate(call(`made-up-${i}`, { sessionId: `made-up-session-${i}`, originIp: '10.9.9.9', ip: '203.0.113.9' }))
      const key = v.kind === 'refuse' ? `refuse:${v.code}` : v.kind
      kinds.set(key, (kinds.get(key) ?? 0) + 1)
    }
    // Each flooded call drifts and is invalidated; a made-up session sharing an overflow slot
    // with an earlier revoked one is refused as revoked (a small fraction). Never a store-full
    // refusal, never a permit.
    expect([...kinds.keys()].sort()).toEqual(expect.arrayContaining(['invalidate']))
    for (const k of kinds.keys()) expect(['invalidate', 'refuse:SESSION_INVALID']).toContain(k)
    expect(kinds.get('refuse:SESSION_INVALID') ?? 0).toBeLessThan((DEFAULT_BOUND + PAST_BOUND) / 100)

    // The good session, idle through the flood, may have been evicted (least recently seen
    // first, in its shard); its id then shares an overflow slot with a revoked session as often
    // as any new id does (the small fraction above), and is refused for that reason only.
    const after = gate.evaluate(good)
    if (after.kind !== 'permit') {
      expect([after.kind, after.code]).toEqual(['refuse', 'SESSION_INVALID'])
      expect(after.reason).toMatch(/^session 'good-session' was invalidated: a revocation of this session may have been dropped when the in-process session store's bound .* \(only ids that share its overflow slot are affected\)$/)
    }
    expect(gate.evaluate(goodNoSession).kind).toBe('permit')
    expect(gate.evaluate(call('newcomer', { ip: '10.0.0.3' })).kind).toBe('permit')
    // The flooded sessions stay revoked.
    const again = gate.evaluate(call('made-up-0', { sessionId: 'made-up-session-0', ip: '203.0.113.9' }))
    expect(again.kind === 'refuse' && again.code).toBe('SESSION_INVALID')
  }, 120_000)
})

describe('a flood of one kind, through the public API', () => {
  const OPEN = { policies: [{ name: 'reads', effect: 'permit' as const, conditions: [{ action: 'read' }] }] }

  test('drift invalidations of made-up principals (no session) past the revocation bound refuse (almost) no newcomer', () => {
    const gate = Gate.fromObject(OPEN)
    let invalidated = 0
    for (let i = 0; i < DEFAULT_BOUND + PAST_BOUND; i++) {
      if (gate.evaluate(call(`made-up-${i}`, { originIp: '10.9.9.9', ip: '203.0.113.9' })).kind === 'invalidate') invalidated++
    }
    // Only an id sharing an overflow slot with a dropped revocation is refused, never everyone.
    let refused = 0
    for (let i = 0; i < 100; i++) if (gate.evaluate(call(`newcomer-${i}`, { ip: '10.0.0.3' })).kind !== 'permit') refused++
    expect(refused).toBeLessThan(20)
    // Each flooded call drifted and was invalidated: none was refused because the list was full.
    expect(invalidated).toBe(DEFAULT_BOUND + PAST_BOUND)
  }, 120_000)

  test('rate keys of made-up principals past the rate store bound: every call and every newcomer is permitted', () => {
    const gate = Gate.fromObject(POLICY, { enableDrift: false })
    const kinds = new Set<string>()
    for (let i = 0; i < DEFAULT_BOUND + PAST_BOUND; i++) {
      const v = gate.evaluate(call(`made-up-${i}`))
      kinds.add(v.kind === 'refuse' ? `refuse:${v.code}` : v.kind)
    }
    expect([...kinds]).toEqual(['permit'])
    for (let i = 0; i < 64; i++) expect(gate.evaluate(call(`newcomer-${i}`)).kind).toBe('permit')
  }, 120_000)
})

describe('sessionStartedAt ahead of the clock (default gate options)', () => {
  const nowSecs = () => Math.floor(Date.now() / 1000)

  test.each([
    ['under session_age_max', { policies: [{ name: 'young', effect: 'permit' as const, conditions: [{ session_age_max: '1h' }] }] }],
    ['with drift on and no session_age_max', { policies: [{ name: 'all', effect: 'permit' as const, conditions: [] }] }],
  ])('%s: now + 5 h and a start in milliseconds refuse with INVALID_CONTEXT', (_, policies) => {
    const gate = Gate.fromObject(policies)
    const ahead = gate.evaluate(call('p', { sessionStartedAt: nowSecs() + 5 * 3600 }))
    expect(ahead.kind === 'refuse' && ahead.code).toBe('INVALID_CONTEXT')
    expect(ahead.kind === 'refuse' && ahead.reason).toMatch(/in the future/)
    const millis = gate.evaluate(call('p', { sessionStartedAt: Date.now() }))
    expect(millis.kind === 'refuse' && millis.code).toBe('INVALID_CONTEXT')
    expect(millis.kind === 'refuse' && millis.reason).toMatch(/milliseconds/)
  })
})

describe('maxClockSkewSeconds', () => {
  const AGE = { policies: [{ name: 'young', effect: 'permit' as const, conditions: [{ session_age_max: '1h' }] }] }
  const nowSecs = () => Math.floor(Date.now() / 1000)

  test('defaults to 300 s; a smaller value refuses a start further ahead, naming the option', () => {
    const ahead = call('p', { sessionStartedAt: nowSecs() + 120 })
    expect(Gate.fromObject(AGE).evaluate(ahead).kind).toBe('permit')
    const v = Gate.fromObject(AGE, { maxClockSkewSeconds: 60 }).evaluate(ahead)
    expect(v.kind === 'refuse' && v.code).toBe('INVALID_CONTEXT')
    expect(v.kind === 'refuse' && v.reason).toMatch(/in the future \(more than the 60s clock skew allowed by maxClockSkewSeconds\)/)
    const far = call('p', { sessionStartedAt: nowSecs() + 3600 })
    expect(Gate.fromObject(AGE).evaluate(far).kind).toBe('refuse')
    expect(Gate.fromObject(AGE, { maxClockSkewSeconds: 7200 }).evaluate(far).kind).toBe('permit')
  })

  test.each([-1, 1.5, 86_401, Number.NaN, '300'])('%s is rejected naming the option', (bad) => {
    expect(() => Gate.fromObject(AGE, { maxClockSkewSeconds: bad as number })).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTIONS', message: expect.stringContaining('maxClockSkewSeconds') }),
    )
  })
})
