// Options and policy objects honour own properties only: prototype pollution elsewhere in an
// app (or an object made with Object.create) must never turn a gate permissive.

import { describe, expect, test } from 'vitest'

import { ActionContext, Gate, InvalidOptionsError, PolicyParseError } from '../index'
import { polluted } from './fixtures/polluted'

const ctx = { principalId: 'u1', principalKind: 'user' as const, actionName: 'delete_everything', params: { amount: 1e9 } }
const PERMIT_ALL = { name: 'all', effect: 'permit', conditions: [] }

describe('gate options: own properties only', () => {
  test('Object.prototype.observeOnly = true does not make a gate built with {} options observe-only', () => {
    const gates = polluted('observeOnly', true, () => [
      Gate.fromObject({}, {}),
      Gate.fromObject({ policies: [] }, { enableDrift: true }),
      Gate.fromToml('', {}),
      Gate.fromJsonString('{}', {}),
    ])
    for (const gate of gates) {
      const v = gate.evaluate(ctx)
      expect(v.isPermit).toBe(false)
      expect(v.code).toBe('NO_POLICY_MATCH')
    }
    expect(({} as Record<string, unknown>).observeOnly).toBeUndefined()
  })

  test('Object.prototype.observeOnly = true does not make a gate built from policy text permit', () => {
    // No policy object here: only the `{}` options object inherits the polluted key.
    const gates = polluted('observeOnly', true, () => [Gate.fromToml('', {}), Gate.fromJsonString('{"policies":[]}', {})])
    for (const gate of gates) {
      const v = gate.evaluate(ctx)
      expect(v.isPermit).toBe(false)
      expect(v.code).toBe('NO_POLICY_MATCH')
    }
  })

  test('Object.create({ observeOnly: true }) as options is not observe-only', () => {
    const gate = Gate.fromObject({}, Object.create({ observeOnly: true }) as object)
    expect(gate.evaluate(ctx).isPermit).toBe(false)
  })

  test('an inherited invariant field, testClock field or option value is not read', () => {
    const inheritedInvariant = Object.create({ name: 'cap', field: 'amount', maxValue: 100 }) as object
    expect(() => Gate.fromObject({}, { invariants: [inheritedInvariant as never] })).toThrow(InvalidOptionsError)
    expect(() => Gate.fromObject({}, { invariants: [inheritedInvariant as never] })).toThrow(/invariants\[0\]/)
    // An inherited enableDrift: false must not remove the drift evaluator.
    expect(Gate.fromObject({}, Object.create({ enableDrift: false }) as object).evaluatorCount).toBe(2)
    expect(() => Gate.fromObject({}, { testClock: Object.create({ nowMs: 5 }) as object })).toThrow(/testClock/)
  })

  test('option errors name the option and carry INVALID_OPTIONS', () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ observeOnly: 'yes' }, /option 'observeOnly': must be a boolean, got string/],
      [{ permitTtlSeconds: '30' }, /option 'permitTtlSeconds': must be a number, got string/],
      [{ obsreveOnly: true }, /unknown option\(s\) 'obsreveOnly'/],
      [{ invariants: [{ name: 'a', field: 'b', maxValue: 1, extra: 1 }] }, /option 'invariants\[0\]': unknown field\(s\) 'extra'/],
      [{ invariants: 'cap' }, /option 'invariants': must be an array/],
      [{ testClock: { nowMs: '1' } }, /option 'testClock.nowMs': must be a number/],
      [{ tokenSigner: 'signer' }, /option 'tokenSigner': must be a PqTokenSigner instance/],
      [[], /gate options must be an object, got array/],
      [{ maxSessionActions: -1 }, /maxSessionActions/],
      [{ permitTtlSeconds: 0 }, /permitTtlSeconds/],
    ]
    for (const [options, message] of cases) {
      let err: unknown
      try {
        Gate.fromObject({}, options as never)
      } catch (e) {
        err = e
      }
      expect(err, JSON.stringify(options)).toBeInstanceOf(InvalidOptionsError)
      expect((err as InvalidOptionsError).code).toBe('INVALID_OPTIONS')
      expect((err as Error).message).toMatch(message)
    }
  })
})

describe('policy objects: own properties only', () => {
  test('an inherited `policies` does not load', () => {
    const gate = Gate.fromObject(Object.create({ policies: [PERMIT_ALL] }) as never)
    expect(gate.evaluate(ctx).isPermit).toBe(false)
  })

  test('an inherited `effect` does not load (nested policy objects, fromObject and reloadObject)', () => {
    const noEffect = Object.assign(Object.create({ effect: 'permit' }) as object, { name: 'p', conditions: [] })
    expect(() => Gate.fromObject({ policies: [noEffect] } as never)).toThrow(PolicyParseError)
    const gate = Gate.fromObject({})
    expect(() => gate.reloadObject({ policies: [noEffect] } as never)).toThrow(PolicyParseError)
    expect(gate.evaluate(ctx).isPermit).toBe(false)
  })

  test('Object.prototype.effect = "permit" does not complete a policy without an effect', () => {
    polluted('effect', 'permit', () => {
      expect(() => Gate.fromObject({ policies: [{ name: 'p', conditions: [] }] } as never)).toThrow(PolicyParseError)
    })
  })

  test('Object.prototype pollution does not add keys to conditions', () => {
    // A polluted key would reach every nested object; the loader must see only what is written.
    const gate = polluted('identity_role', 'admin', () =>
      Gate.fromObject({ policies: [{ name: 'refunds', effect: 'permit', conditions: [{ action: 'refund' }] }] }),
    )
    expect(gate.evaluate({ ...ctx, actionName: 'refund' }).isPermit).toBe(true)
    expect(gate.evaluate(ctx).isPermit).toBe(false)
  })

  test('cycles and deep nesting are still rejected by the loader (the copy stops early)', () => {
    const cyclic: Record<string, unknown> = { name: 'c', effect: 'permit' }
    cyclic.conditions = [cyclic, cyclic, cyclic]
    expect(() => Gate.fromObject({ policies: [cyclic] } as never)).toThrow(/nested too deeply/)
    let deep: unknown = { action: 'x' }
    for (let i = 0; i < 100; i++) deep = { nested: deep }
    expect(() => Gate.fromObject({ policies: [{ name: 'd', effect: 'permit', conditions: [deep] }] } as never)).toThrow(PolicyParseError)
  })

  test('an inherited array index is not read as a policy', () => {
    const sparse: unknown[] = []
    sparse.length = 1
    polluted('0', PERMIT_ALL, () => {
      expect(() => Gate.fromObject({ policies: sparse } as never)).toThrow(PolicyParseError)
    })
  })
})

describe('evaluation contexts: own properties only', () => {
  const gate = Gate.fromObject({
    policies: [
      { name: 'admins', effect: 'permit', conditions: [{ identity_role: 'admin' }] },
      { name: 'public', effect: 'permit', conditions: [{ resource: 'public/*' }] },
      { name: 'small', effect: 'permit', conditions: [{ param_max: { field: 'amount', max: 10 } }] },
    ],
  })
  const plain = { principalId: 'u1', principalKind: 'user' as const, actionName: 'delete_everything' }

  test.each([
    ['roles', ['admin']],
    ['resource', 'public/x'],
    ['params', { amount: 1 }],
    ['amount', 1],
  ])('Object.prototype.%s does not reach the gate (evaluate, evaluateAsync, ActionContext)', async (key, value) => {
    await polluted(key, value, async () => {
      expect(gate.evaluate(plain).code).toBe('NO_POLICY_MATCH')
      expect((await gate.evaluateAsync(plain)).code).toBe('NO_POLICY_MATCH')
      expect(gate.evaluate({ ...plain, params: { other: 1 } }).code).toBe('NO_POLICY_MATCH')
      expect(gate.evaluate(new ActionContext(plain)).code).toBe('NO_POLICY_MATCH')
    })
    // Own fields still count.
    expect(gate.evaluate({ ...plain, roles: ['admin'] }).isPermit).toBe(true)
  })

  test('a context made with Object.create does not lend its prototype\'s fields', () => {
    const ctx = Object.assign(Object.create({ roles: ['admin'], resource: 'public/x' }) as object, plain)
    expect(gate.evaluate(ctx as typeof plain).code).toBe('NO_POLICY_MATCH')
  })
})
