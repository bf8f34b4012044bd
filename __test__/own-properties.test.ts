// Options and policy objects honour own properties only: prototype pollution elsewhere in an
// app (or an object made with Object.create) must never turn a gate permissive.

import { describe, expect, test } from 'vitest'

import { ActionContext, Gate, InvalidArgumentError, InvalidContextError, InvalidOptionsError, PolicyParseError, PqTokenSigner } from '../index'
import { polluted } from './fixtures/polluted'

const ctx = { principalId: 'u1', principalKind: 'user' as const, actionName: 'delete_everything', params: { amount: 1e9 } }
const PERMIT_ALL = { name: 'all', effect: 'permit', conditions: [] }

/** The error of a policy object past the copy's bound (MAX_COPY_VALUES: 64 MiB / 2). */
const TOO_MANY_POLICY_VALUES =
  'policy object has more than 33554432 values, counting a shared sub-object once per reference (more than a policy file of 67108864 bytes can hold)'

/**
 * An object of `keys`, each a getter answering `valueOf(the object)`, that counts the reads and
 * throws past `limit`: a copy that expands shared references fails on it at once instead of
 * filling the heap.
 */
function tripwire(keys: string[], valueOf: (self: object) => unknown, limit: number): { value: object; reads: () => number } {
  let reads = 0
  const value = {}
  const get = () => {
    if (++reads > limit) throw new Error(`tripwire: read ${reads} times (shared references copied once per path)`)
    return valueOf(value)
  }
  for (const key of keys) Object.defineProperty(value, key, { enumerable: true, get })
  return { value, reads: () => reads }
}

/** `depth` levels of arrays, each holding `fanout` references to the level below; `leaf` at the bottom. */
function fannedOut(leaf: unknown, fanout: number, depth: number): unknown {
  let node = leaf
  for (let i = 0; i < depth; i++) node = Array(fanout).fill(node)
  return node
}

/** `Class: message` of what `run` throws. */
function loadError(run: () => unknown): string {
  try {
    run()
  } catch (e) {
    return `${(e as Error).constructor.name}: ${(e as Error).message}`
  }
  return 'no error'
}

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

  test('a policy object whose shared references stand for more than 33554432 values is refused naming the bound', () => {
    // The shape of `Array(10000).fill(policy)` with a shared condition array: 20,000 array slots
    // in memory, 100,000,000 conditions as a tree. The copy counts each reference and copies a
    // shared policy once; copied once per path it would read the condition 10,000 times per
    // policy (the tripwire stops that long before the heap runs out).
    const condition = tripwire(['action'], () => 'x', 100_000)
    const policy = { name: 'a', effect: 'permit', conditions: Array(10_000).fill(condition.value) }
    const set = { policies: Array(10_000).fill(policy) } as never
    expect(loadError(() => Gate.fromObject(set))).toBe(`${PolicyParseError.name}: ${TOO_MANY_POLICY_VALUES}`)
    const gate = Gate.fromObject({ policies: [{ ...PERMIT_ALL, conditions: [{ action: 'keep' }] }] } as never)
    expect(loadError(() => gate.reloadObject(set))).toBe(`${PolicyParseError.name}: ${TOO_MANY_POLICY_VALUES}`)
    expect(gate.evaluate({ ...ctx, actionName: 'keep' }).isPermit).toBe(true)
    // Two loads, each copying the shared condition array once.
    expect(condition.reads()).toBe(20_000)
  })

  test('nested arrays of shared references (YAML aliases) past the bound are refused naming it', () => {
    // js-yaml keeps `&a [...]` / `*a` as one array referenced many times: 9 levels of 10 make
    // 10^9 leaves from 90 array slots.
    const leaf = tripwire(['text'], () => 'x', 100_000)
    const set = { policies: [{ ...PERMIT_ALL, description: fannedOut(leaf.value, 10, 9) }] } as never
    expect(loadError(() => Gate.fromObject(set))).toBe(`${PolicyParseError.name}: ${TOO_MANY_POLICY_VALUES}`)
  })

  test('a cycle with many branches is refused naming the bound, not walked to the depth limit on every path', () => {
    // An object whose 1,000 keys all hold itself stands for 1000^17 values above the depth
    // limit; copied once per path, its getters would run 1,000 times per copy.
    const keys = Array.from({ length: 1000 }, (_, i) => `k${i}`)
    const cyclic = tripwire(keys, (self) => self, 100_000)
    const set = { policies: [{ ...PERMIT_ALL, description: cyclic.value }] } as never
    expect(loadError(() => Gate.fromObject(set))).toBe(`${PolicyParseError.name}: ${TOO_MANY_POLICY_VALUES}`)
  })

  test('a large set loads, with or without shared sub-objects', () => {
    // The bench's shape (10,000 policies of four conditions), then the same policies sharing
    // one condition array: sharing within the bound loads as written.
    const conditions = (i: number) => [{ identity_kind: 'agent' }, { identity_role: 'support' }, { action: `tool_${i}` }, { param_max: { field: 'amount', max: 1000 } }]
    const distinct = Array.from({ length: 10_000 }, (_, i) => ({ name: `policy_${i}`, effect: 'permit', conditions: conditions(i) }))
    const shared = conditions(7)
    const sharing = distinct.map((p) => ({ ...p, conditions: shared }))
    const agent = { principalId: 'a', principalKind: 'agent' as const, roles: ['support'], params: { amount: 5 } }
    const gate = Gate.fromObject({ policies: distinct } as never)
    expect(gate.policyCount).toBe(10_000)
    expect(gate.evaluate({ ...agent, actionName: 'tool_9999' }).isPermit).toBe(true)
    gate.reloadObject({ policies: sharing } as never)
    expect(gate.policyCount).toBe(10_000)
    expect(gate.evaluate({ ...agent, actionName: 'tool_7' }).isPermit).toBe(true)
    expect(gate.evaluate({ ...agent, actionName: 'tool_9999' }).code).toBe('NO_POLICY_MATCH')
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

  test('a class instance context whose roles share references past the bound is refused naming the field', () => {
    // A class instance is read through the own-property copy, before the roles are checked.
    const leaf = tripwire(['role'], () => 'admin', 100_000)
    class Call {
      principalId = 'u1'
      principalKind = 'user' as const
      actionName = 'delete_everything'
      roles = fannedOut(leaf.value, 10, 9) as never
    }
    expect(loadError(() => gate.evaluate(new Call()))).toBe(
      `${InvalidArgumentError.name}: roles has more than 33554432 values, counting a shared sub-object once per reference`,
    )
  })

  test('a context made with Object.create does not lend its prototype\'s fields', () => {
    const ctx = Object.assign(Object.create({ roles: ['admin'], resource: 'public/x' }) as object, plain)
    expect(gate.evaluate(ctx as typeof plain).code).toBe('NO_POLICY_MATCH')
  })
})

describe('evaluation contexts: a property a key listing skips is refused on every path', () => {
  // The fast path reads fields by name, the copies and ActionContext list keys, the native
  // side reads params by listing: a non-enumerable property would be judged on one path and
  // skipped on another. Each path must refuse it, naming it.
  const POLICIES = { policies: [{ name: 'all', effect: 'permit' as const, conditions: [] }] }
  const OPTIONS = { enableDrift: false, invariants: [{ name: 'cap', field: 'amount', maxValue: 1000 }] }
  const inline = Gate.fromObject(POLICIES, OPTIONS)
  // A token signer keeps evaluateAsync off the inline answer: it submits to the native pipeline.
  const queued = Gate.fromObject(POLICIES, { ...OPTIONS, tokenSigner: PqTokenSigner.generatePqOnly() })
  const base = (): Record<string, unknown> => ({ principalId: 'u1', principalKind: 'agent', actionName: 'refund' })
  const hide = <T extends object>(o: T, key: string, value: unknown): T =>
    Object.defineProperty(o, key, { value, enumerable: false, writable: true, configurable: true })

  /** The outcome of each path for a fresh context from `make`: a verdict code or an error's. */
  async function outcomes(make: () => object): Promise<Record<string, string>> {
    const paths: Record<string, (ctx: object) => unknown> = {
      evaluate: (c) => inline.evaluate(c as never),
      // An unrelated polluted key sends evaluate through the own-property copy.
      'evaluate (copy)': (c) => polluted('unrelated', 1, () => inline.evaluate(c as never)),
      ActionContext: (c) => inline.evaluate(new ActionContext(c as never)),
      evaluateAsync: (c) => queued.evaluateAsync(c as never),
      explain: (c) => inline.explain(c as never).verdict,
      explainAsync: async (c) => (await inline.explainAsync(c as never)).verdict,
    }
    const out: Record<string, string> = {}
    for (const [name, run] of Object.entries(paths)) {
      try {
        const v = (await run(make())) as { kind: string; code?: string }
        out[name] = v.code ?? v.kind
      } catch (e) {
        expect(e, name).toBeInstanceOf(InvalidContextError)
        out[name] = `${(e as InvalidContextError).code}: ${(e as Error).message}`
      }
    }
    return out
  }

  async function expectRefusedEverywhere(make: () => object, message: RegExp): Promise<void> {
    for (const [path, outcome] of Object.entries(await outcomes(make))) {
      expect(outcome, path).toMatch(/^INVALID_CONTEXT: /)
      expect(outcome, path).toMatch(message)
    }
  }

  test.each([
    ['params', { amount: 5000 }],
    ['roles', ['admin']],
    ['principalId', 'u1'],
    ['ip', '10.0.0.1'],
    ['currentGeo', { countryCode: 'IN' }],
  ])('a non-enumerable %s', async (key, value) => {
    await expectRefusedEverywhere(() => {
      const ctx = base()
      delete ctx[key]
      return hide(ctx, key, value)
    }, new RegExp(`^INVALID_CONTEXT: context: '${key}' is not enumerable`))
  })

  test('a non-enumerable field of a class instance context', async () => {
    class Call {
      principalId = 'u1'
      principalKind = 'agent'
      actionName = 'refund'
    }
    await expectRefusedEverywhere(() => hide(new Call(), 'params', { amount: 5000 }), /context: 'params' is not enumerable/)
  })

  test('a non-enumerable param, alone or next to enumerable ones; enumerable, the invariant judges it', async () => {
    await expectRefusedEverywhere(() => ({ ...base(), params: hide({}, 'amount', 5000) }), /params: 'amount' is not enumerable/)
    await expectRefusedEverywhere(() => ({ ...base(), params: hide({ note: 'x' }, 'amount', 5000) }), /params: 'amount' is not enumerable/)
    for (const outcome of Object.values(await outcomes(() => ({ ...base(), params: { amount: 5000 }, currentGeo: { countryCode: 'IN', region: 'KA' } })))) {
      expect(outcome).toBe('INVARIANT_VIOLATION')
    }
  })

  test('a non-enumerable geo or device key, or a geo field inherited from a prototype', async () => {
    await expectRefusedEverywhere(() => ({ ...base(), currentGeo: hide({ countryCode: 'IN' }, 'region', 'KA') }), /currentGeo: 'region' is not enumerable/)
    await expectRefusedEverywhere(() => ({ ...base(), originDevice: hide({}, 'hash', 'h1') }), /originDevice: 'hash' is not enumerable/)
    await expectRefusedEverywhere(() => ({ ...base(), currentGeo: Object.create({ countryCode: 'IN' }) as object }), /currentGeo: 'countryCode' is inherited/)
    class Geo {
      countryCode = 'IN'
      get region(): string {
        return 'KA'
      }
    }
    await expectRefusedEverywhere(() => ({ ...base(), currentGeo: new Geo() }), /currentGeo: 'region' is inherited/)
  })
})
