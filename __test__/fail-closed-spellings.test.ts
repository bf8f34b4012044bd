// Spellings that must not open a gate: a revocation given in another Unicode normal form than
// the contexts it targets (they are compared in NFC), a target no context can carry (refused, not
// kept as a revocation that protects nothing), a `param_in` deny list against a decomposed
// value (on the fast and the general path alike), and a param named `__proto__` (kept as a param
// by every copy the SDK makes, as the native side reads it).

import { describe, expect, test } from 'vitest'

import { ActionContext, Gate, InMemoryInvalidationBroadcaster, InvalidArgumentError, McpKavachMiddleware, type EvaluateOptions } from '../index'
import { errorOf } from './fixtures/errors'
import { rejection } from './fixtures/outcomes'

const ALL = { name: 'all', effect: 'permit' as const, conditions: [] }
const call = (extra: Partial<EvaluateOptions> = {}): EvaluateOptions => ({ principalId: 'jos\u00e9', principalKind: 'user', actionName: 'ship', ...extra })

/** Nine params: more than the fast path carries, so the general path decides. */
function generalPath(params: Record<string, number | string>): Record<string, number | string> {
  const wide: Record<string, number | string> = { ...params }
  for (let i = 0; i < 9; i++) wide[`pad${i}`] = i
  return wide
}

describe('revocations are compared in NFC', () => {
  test('a principal revoked in NFD is refused in NFC (and in NFD), and lifted in either spelling', async () => {
    const gate = Gate.fromObject({ policies: [ALL] })
    await gate.revoke({ targetKind: 'principal', targetId: 'jose\u0301' })
    for (const principalId of ['jos\u00e9', 'jose\u0301']) {
      expect(gate.evaluate(call({ principalId })).code, principalId).toBe('SESSION_INVALID')
    }
    gate.lift({ targetKind: 'principal', targetId: 'jos\u00e9' })
    expect(gate.evaluate(call()).isPermit).toBe(true)
  })

  test('a role published in NFD by a broadcaster is refused in NFC', () => {
    const broadcaster = new InMemoryInvalidationBroadcaster()
    const gate = Gate.fromObject({ policies: [ALL] }, { broadcaster })
    broadcaster.publish('role', 'ope\u0301rateur', 'compromised')
    expect(gate.evaluate(call({ roles: ['op\u00e9rateur'] })).code).toBe('SESSION_INVALID')
  })

  test('a principal or role no context can carry is refused, naming why', async () => {
    const gate = Gate.fromObject({ policies: [ALL] })
    const e = await rejection(gate.revoke({ targetKind: 'principal', targetId: 'mallory ' }))
    expect(e).toBeInstanceOf(InvalidArgumentError)
    expect(e.message).toMatch(/principal scope target id 'mallory ' has leading or trailing whitespace: no context can carry it, so it would never match/)
    const long = await rejection(gate.revoke({ targetKind: 'session', targetId: 's'.repeat(257) }))
    expect(long.message).toMatch(/session scope target id is 257 bytes, over the limit of 256/)
  })
})

describe('param_in compares values in NFC', () => {
  const gate = Gate.fromObject({
    policies: [{ name: 'embargo', effect: 'refuse', priority: 1, conditions: [{ param_in: { field: 'country', values: ['T\u00fcrkiye'] } }] }, ALL],
  })

  test.each([
    ['NFC', 'T\u00fcrkiye'],
    ['NFD', 'Tu\u0308rkiye'],
  ])('%s value: refused on the fast path, the general path and through ActionContext', (_form, country) => {
    expect(gate.evaluate(call({ params: { country } })).code).toBe('POLICY_DENIED')
    expect(gate.evaluate(call({ params: generalPath({ country }) })).code).toBe('POLICY_DENIED')
    expect(gate.evaluate(new ActionContext(call({ params: { country } }))).code).toBe('POLICY_DENIED')
  })

  test('two spellings of one param name in one context: INVALID_CONTEXT on both paths', () => {
    const params = { 'gr\u00f6sse': 1, 'gro\u0308sse': 5000 }
    for (const p of [params, generalPath(params)]) {
      const v = gate.evaluate(call({ params: p }))
      expect(v.code).toBe('INVALID_CONTEXT')
      expect(v.reason).toMatch(/is given twice \(two Unicode spellings of one name\)/)
    }
  })

  // U+212A KELVIN SIGN, U+037E GREEK QUESTION MARK and U+1FEF GREEK VARIA are in NFC `K`, `;`
  // and a backtick: a non-ASCII key that is one name with an ASCII one.
  test.each([
    ['apiKey', 'api\u212Aey'],
    ['a;b', 'a\u037Eb'],
    ['a`b', 'a\u1FEFb'],
  ])('%s and a spelling of it whose NFC is ASCII: INVALID_CONTEXT on every path, in either order', (ascii, other) => {
    const capped = Gate.fromObject({
      policies: [{ name: 'cap', effect: 'refuse', priority: 1, conditions: [{ param_min: { field: ascii, min: 1000 } }] }, ALL],
    })
    for (const params of [{ [ascii]: 5, [other]: 5000 }, { [other]: 5000, [ascii]: 5 }, { [other]: 5, [ascii]: 5000 }]) {
      for (const p of [params, generalPath(params)]) {
        for (const v of [capped.evaluate(call({ params: p })), capped.evaluate(new ActionContext(call({ params: p })))]) {
          expect(v.code).toBe('INVALID_CONTEXT')
          expect(v.reason).toMatch(/is given twice \(two Unicode spellings of one name\)/)
        }
      }
    }
  })
})

describe("a param named '__proto__'", () => {
  const gate = Gate.fromObject({ policies: [ALL] }, { invariants: [{ name: 'cap', field: '__proto__', maxValue: 10 }] })
  const params = JSON.parse('{"__proto__": 5000}') as Record<string, number>

  test('is judged by evaluate, through ActionContext and through the MCP middleware alike', async () => {
    expect(gate.evaluate(call({ params })).code).toBe('INVARIANT_VIOLATION')
    const ctx = new ActionContext(call({ params }))
    expect(Object.keys(ctx.options.params ?? {})).toEqual(['__proto__'])
    expect(gate.evaluate(ctx).code).toBe('INVARIANT_VIOLATION')
    const mcp = await new McpKavachMiddleware(gate).evaluateToolCall('ship', params, { callerId: 'bot-1' })
    expect(mcp.code).toBe('INVARIANT_VIOLATION')
  })
})

describe('an invariant field is held in NFC, as contexts carry param names', () => {
  test.each([
    ['object', { name: 'cap', field: 'gro\u0308sse', maxValue: 1000 }],
    ['tuple', ['cap', 'gro\u0308sse', 1000] as [string, string, number]],
  ])('a field written in NFD (%s form) caps the param in either spelling, and readsParam sees it', (_form, invariant) => {
    const gate = Gate.fromObject({ policies: [ALL] }, { invariants: [invariant] })
    for (const name of ['gr\u00f6sse', 'gro\u0308sse']) {
      expect(gate.evaluate(call({ params: { [name]: 5000 } })).code).toBe('INVARIANT_VIOLATION')
      expect(gate.evaluate(call({ params: { [name]: 'many' } })).code).toBe('INVARIANT_VIOLATION')
      expect(gate.evaluate(call({ params: { [name]: 5 } })).isPermit).toBe(true)
      expect(gate.readsParam(name)).toBe(true)
    }
  })
})

describe('policy names are held in NFC', () => {
  test.each([
    ['caf\u00e9', 'cafe\u0301'],
    ['Key', '\u212Aey'],
  ])('%s and %s are one name: a duplicate in every loader', (a, b) => {
    const set = { policies: [{ name: a, effect: 'refuse' as const, conditions: [] }, { name: b, effect: 'permit' as const, conditions: [] }] }
    const toml = set.policies.map((p) => `[[policy]]\nname = ${JSON.stringify(p.name)}\neffect = "${p.effect}"\nconditions = []\n`).join('\n')
    for (const load of [() => Gate.fromObject(set), () => Gate.fromJsonString(JSON.stringify(set)), () => Gate.fromToml(toml)]) {
      const err = errorOf(load)
      expect(err.code).toBe('POLICY_PARSE')
      expect(err.message).toMatch(/duplicate policy name \(policies #0 and #1\)/)
    }
  })
})
