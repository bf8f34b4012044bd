// Roles on the fast path travel inside its one string (lengths in the scratch array); more
// than FAST_IN_MAX_ROLES, or anything but an array of strings, takes the general path. Both
// routes must reach the same verdicts and the same errors.

import { describe, expect, test } from 'vitest'

import { Gate, InvalidArgumentError } from '../index'
import { FAST_IN_MAX_ROLES } from '../src/generated/layout'
import { countRawCalls } from './fixtures/raw-calls'

const POLICIES = {
  policies: [
    { name: 'auditors_export', effect: 'permit' as const, conditions: [{ identity_role: 'auditor' }, { action: 'export' }] },
    { name: 'ops_export', effect: 'permit' as const, conditions: [{ identity_role: 'opérateur' }, { action: 'export' }] },
  ],
}

function roles(n: number, last: string): string[] {
  return [...Array.from({ length: n - 1 }, (_, i) => `r${i}`), last]
}

function evaluate(gate: Gate, r: unknown): { kind: string; raw: number } {
  const counter = countRawCalls(gate)
  try {
    const v = gate.evaluate({ principalId: 'u1', principalKind: 'user', actionName: 'export', roles: r as string[] })
    return { kind: v.kind, raw: counter.calls() }
  } finally {
    counter.restore()
  }
}

describe('roles on the fast path', () => {
  const gate = Gate.fromObject(POLICIES)

  test('up to the limit the fast path decides on every role, including the last', () => {
    expect(evaluate(gate, roles(FAST_IN_MAX_ROLES, 'auditor'))).toEqual({ kind: 'permit', raw: 0 })
    expect(evaluate(gate, roles(FAST_IN_MAX_ROLES, 'auditor-not'))).toEqual({ kind: 'refuse', raw: 0 })
    expect(evaluate(gate, ['auditor'])).toEqual({ kind: 'permit', raw: 0 })
    expect(evaluate(gate, [])).toEqual({ kind: 'refuse', raw: 0 })
    expect(evaluate(gate, undefined)).toEqual({ kind: 'refuse', raw: 0 })
    expect(evaluate(gate, null)).toEqual({ kind: 'refuse', raw: 0 })
  })

  test('one role past the limit takes the general path, with the same verdicts', () => {
    expect(evaluate(gate, roles(FAST_IN_MAX_ROLES + 1, 'auditor'))).toEqual({ kind: 'permit', raw: 1 })
    expect(evaluate(gate, roles(FAST_IN_MAX_ROLES + 1, 'auditor-not'))).toEqual({ kind: 'refuse', raw: 1 })
  })

  test('role boundaries are kept: adjacent roles never join into one', () => {
    // 'audi' + 'tor' would spell the permitted role if lengths were lost.
    expect(evaluate(gate, ['audi', 'tor'])).toEqual({ kind: 'refuse', raw: 0 })
    expect(evaluate(gate, ['x', 'auditor', 'y'])).toEqual({ kind: 'permit', raw: 0 })
  })

  test('non-ASCII roles compare in NFC on the fast path', () => {
    expect(evaluate(gate, ['opérateur'])).toEqual({ kind: 'permit', raw: 0 })
    expect(evaluate(gate, ['ope\u0301rateur'])).toEqual({ kind: 'permit', raw: 0 })
  })

  test('roles that are not an array of strings are errors naming the field', () => {
    expect(() => evaluate(gate, ['auditor', 7])).toThrow(InvalidArgumentError)
    expect(() => evaluate(gate, ['auditor', 7])).toThrow('roles[1] must be a string (got number)')
    expect(() => evaluate(gate, 'auditor')).toThrow('roles must be an array of strings (got string)')
  })

  test('a role the gate cannot match on refuses with INVALID_CONTEXT naming it, on both routes', () => {
    for (const r of [['auditor', 'bad\u200brole'], [...roles(FAST_IN_MAX_ROLES, 'auditor'), 'bad\u200brole']]) {
      const v = gate.evaluate({ principalId: 'u1', principalKind: 'user', actionName: 'export', roles: r })
      expect(v.kind).toBe('refuse')
      expect(v.code).toBe('INVALID_CONTEXT')
      expect(v.reason).toContain(`roles[${r.length - 1}]`)
      expect(v.reason).toContain('invisible')
    }
  })

  test('evaluateAsync on a Redis-free gate agrees', async () => {
    for (const r of [roles(FAST_IN_MAX_ROLES, 'auditor'), roles(FAST_IN_MAX_ROLES + 1, 'auditor'), ['audi', 'tor']]) {
      const sync = gate.evaluate({ principalId: 'u1', principalKind: 'user', actionName: 'export', roles: r })
      const async = await gate.evaluateAsync({ principalId: 'u1', principalKind: 'user', actionName: 'export', roles: r })
      expect(async.kind).toBe(sync.kind)
    }
  })
})
