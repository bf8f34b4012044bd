// `roles: null` and `params: null` mean absent in a plain context (evaluate, explain), so they
// mean absent in an ActionContext too: both spellings of one call get one verdict.

import { describe, expect, test } from 'vitest'

import { ActionContext, Gate, InvalidArgumentError, type ActionContextInput } from '../index'
import { caught } from './fixtures/outcomes'

const POLICY = {
  policies: [
    { name: 'support_refunds', effect: 'permit' as const, conditions: [{ action: 'issue_refund' }, { identity_role: 'support' }] },
    { name: 'reads', effect: 'permit' as const, conditions: [{ action: 'read' }] },
  ],
}
const BASE = { principalId: 'bot-1', principalKind: 'agent' as const }

describe('ActionContext with roles: null and params: null', () => {
  test('constructs with no roles and no params, as evaluate reads the same fields', () => {
    const input = { ...BASE, actionName: 'read', roles: null, params: null } as unknown as ActionContextInput
    const ctx = new ActionContext(input)
    expect(ctx.roles).toEqual([])
    expect(ctx.params).toEqual({})
    const gate = Gate.fromObject(POLICY)
    expect(gate.evaluate(ctx).kind).toBe('permit')
    expect(gate.evaluate(input as never).kind).toBe('permit')
    expect(gate.explain(ctx).verdict.kind).toBe('permit')
  })

  test('a null role list holds no role: the role policy refuses on both paths', () => {
    const input = { ...BASE, actionName: 'issue_refund', roles: null, params: null } as unknown as ActionContextInput
    const gate = Gate.fromObject(POLICY)
    const fromClass = gate.evaluate(new ActionContext(input))
    const fromObject = gate.evaluate(input as never)
    expect(fromClass.code).toBe('NO_POLICY_MATCH')
    expect(fromObject.code).toBe(fromClass.code)
  })

  test('other null fields stay argument errors naming the field', () => {
    const err = caught(() => new ActionContext({ ...BASE, actionName: 'read', ip: null } as unknown as ActionContextInput))
    expect(err).toBeInstanceOf(InvalidArgumentError)
    expect(err.message).toContain('ip must be a string')
  })
})
