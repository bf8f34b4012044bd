// Interned names (crates/kavach-node/src/names.rs, src/interned-names.ts): a gate sends each
// action name, role and param name to its native side once and then only its index. The
// verdicts and errors must be the ones the name would get in the text: past the table's
// bound, for names the table does not take (long, not ASCII), for names the core refuses, and
// for an index that names nothing (only reachable through the internal binding).

import { describe, expect, test } from 'vitest'

import { Gate, RedisRateLimitStore } from '../index'
import { FAST_IN_ACTION_LEN, FAST_IN_ID_LEN, FAST_IN_KIND, FAST_IN_MAX_NAMES, FAST_IN_MAX_NAME_UNITS, FAST_IN_PARAM_COUNT, FAST_IN_ROLE_COUNT, FAST_IN_SCRATCH_LEN, FAST_IN_TEXT_LEN } from '../src/generated/layout'
import { setSpeedLayersOff } from '../binding.js'
import { evaluateFast, internName } from '../src/native'
import { REDIS_URL, prefixesCleanedAfterAll } from './fixtures/redis-helpers'

const prefix = prefixesCleanedAfterAll()

/** Policy i permits role `r_i` calling `a_i` with `p_i` ≤ 10, for even i only. */
function evenPolicies(n: number, rateStore?: RedisRateLimitStore): Gate {
  const policies = []
  for (let i = 0; i < n; i += 2) {
    policies.push({
      name: `p${i}`,
      effect: 'permit' as const,
      conditions: [{ action: `a_${i}` }, { identity_role: `r_${i}` }, { param_max: { field: `p_${i}`, max: 10 } }],
    })
  }
  return Gate.fromObject({ policies }, { enableDrift: false, rateStore })
}

function ctx(i: number, value = 5): { principalId: string; principalKind: 'agent'; actionName: string; roles: string[]; params: Record<string, number> } {
  return { principalId: 'bot', principalKind: 'agent', actionName: `a_${i}`, roles: [`r_${i}`], params: { [`p_${i}`]: value } }
}

describe('interned names', () => {
  test('past the bound of the table, names travel as text and decide the same', () => {
    // Three new names per context: the table fills a third of the way through.
    const n = FAST_IN_MAX_NAMES
    const gate = evenPolicies(n)
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < n; i++) {
        const v = gate.evaluate(ctx(i))
        expect(v.kind, `a_${i}, round ${round}`).toBe(i % 2 === 0 ? 'permit' : 'refuse')
        expect(gate.evaluate(ctx(i, 11)).kind, `a_${i} over the max`).toBe('refuse')
      }
    }
    // Names interned early and names that never were mix in one context: role of one, action of another.
    expect(gate.evaluate({ ...ctx(n - 2), roles: ['r_0'] }).kind).toBe('refuse')
    expect(gate.evaluate({ ...ctx(0), roles: [`r_${n - 2}`, 'r_0'] }).kind).toBe('permit')
  })

  test('evaluateAsync on a Redis-backed gate (queued evaluations) reads interned names too', async () => {
    const n = FAST_IN_MAX_NAMES
    const store = await RedisRateLimitStore.connect(REDIS_URL, { prefix: prefix('interned') })
    const gate = evenPolicies(n, store)
    try {
      for (let round = 0; round < 2; round++) {
        const verdicts = await Promise.all(Array.from({ length: n }, (_, i) => gate.evaluateAsync(ctx(i))))
        verdicts.forEach((v, i) => expect(v.kind, `a_${i}, round ${round}`).toBe(i % 2 === 0 ? 'permit' : 'refuse'))
      }
    } finally {
      await gate.close()
      store.close()
    }
  })

  test('long and non-ASCII names (never interned) decide as short ASCII ones do', () => {
    const long = 'x'.repeat(FAST_IN_MAX_NAME_UNITS + 1)
    const atBound = 'y'.repeat(FAST_IN_MAX_NAME_UNITS)
    const gate = Gate.fromObject({
      policies: [
        { name: 'long', effect: 'permit', conditions: [{ action: long }, { identity_role: atBound }] },
        { name: 'accents', effect: 'permit', conditions: [{ action: 'café' }, { identity_role: 'opérateur' }] },
      ],
    })
    for (let i = 0; i < 3; i++) {
      expect(gate.evaluate({ principalId: 'u', principalKind: 'user', actionName: long, roles: [atBound] }).kind).toBe('permit')
      expect(gate.evaluate({ principalId: 'u', principalKind: 'user', actionName: long, roles: [long] }).kind).toBe('refuse')
      expect(gate.evaluate({ principalId: 'u', principalKind: 'user', actionName: atBound, roles: [atBound] }).kind).toBe('refuse')
      // 'café' written decomposed (e + U+0301) is the same name once normalized.
      expect(gate.evaluate({ principalId: 'u', principalKind: 'user', actionName: 'cafe\u0301', roles: ['opérateur'] }).kind).toBe('permit')
    }
  })

  test('a name the core refuses is refused the same way once it is interned', () => {
    const gate = Gate.fromObject({ policies: [{ name: 'p', effect: 'permit', conditions: [] }] })
    const cases: Array<[{ actionName: string; roles?: string[] }, string]> = [
      [{ actionName: ' read' }, "actionName ' read' has leading or trailing whitespace"],
      [{ actionName: 'read\u0000' }, "actionName 'read\\u{0}' contains the control character \\u{0} at character 4"],
      [{ actionName: 'read', roles: ['ops '] }, "roles[0] 'ops ' has leading or trailing whitespace"],
    ]
    for (const [fields, reason] of cases) {
      // The first time the names travel in the text, then by index: same refusal, same words.
      for (let i = 0; i < 3; i++) {
        const v = gate.evaluate({ principalId: 'u', principalKind: 'user', ...fields })
        expect([v.kind, v.code, v.reason]).toEqual(['refuse', 'INVALID_CONTEXT', reason])
      }
    }
  })

  test('with the interned-names layer off, nothing new is interned and verdicts are the same', () => {
    const gate = evenPolicies(4)
    const s = new Float64Array(FAST_IN_SCRATCH_LEN)
    setSpeedLayersOff(['interned-names'])
    try {
      const off = evenPolicies(4)
      for (let i = 0; i < 4; i++) expect(off.evaluate(ctx(i)).kind).toBe(gate.evaluate(ctx(i)).kind)
      const handle = off.native.attachScratch(s)
      expect(internName(handle, 'read')).toBe(-1)
    } finally {
      setSpeedLayersOff([])
    }
    expect(internName(gate.native.attachScratch(s), 'read')).toBe(0)
  })

  test('the internal binding: an index that names nothing is a clean INTERNAL error, a gone gate interns nothing', () => {
    const gate = Gate.fromObject({ policies: [{ name: 'p', effect: 'permit', conditions: [] }] })
    const s = new Float64Array(FAST_IN_SCRATCH_LEN)
    const handle = gate.native.attachScratch(s)
    expect(internName(handle, 'read')).toBe(0)
    expect(internName(handle, 'read')).toBe(1) // the table only grows; the TS layer asks once per name
    expect(internName(handle, 'opérateur')).toBe(-1)
    expect(internName(handle, '')).toBe(-1)
    expect(internName(999_999, 'read')).toBe(-1)
    const run = (actionSlot: number): string => {
      s[FAST_IN_KIND] = 0
      s[FAST_IN_PARAM_COUNT] = 0
      s[FAST_IN_ROLE_COUNT] = 0
      s[FAST_IN_ID_LEN] = 1
      s[FAST_IN_ACTION_LEN] = actionSlot
      s[FAST_IN_TEXT_LEN] = 1
      try {
        return typeof evaluateFast(handle, 'u') === 'string' ? 'verdict' : 'raw verdict'
      } catch (e) {
        const err = e as { code?: string; message?: string }
        return `${err.code}: ${err.message}`
      }
    }
    expect(run(-1)).toBe('verdict')
    expect(run(-2)).toBe('verdict')
    for (const slot of [-3, -1.5, -1e300, Number.NEGATIVE_INFINITY]) {
      expect(run(slot)).toMatch(/^INTERNAL: .*unknown interned name/)
    }
  })
})
