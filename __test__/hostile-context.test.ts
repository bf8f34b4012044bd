// Contexts built to get a permit they should not, or to hang or abort the process: a getter
// that evaluates on another gate while its own evaluation is being submitted, getters that
// throw, a sparse `roles` claiming 2^32 - 1 elements, `Array.prototype` pollution behind a
// hole, params that are not a record (a Map, an array, a class instance), `null` optional
// fields, and names in NFD. Each must end in the verdict the policy gives, or a typed error
// naming the problem; every promise settles.

import { runInNewContext } from 'node:vm'

import { describe, expect, test, vi } from 'vitest'

import { ActionContext, Gate, InvalidArgumentError, InvalidContextError, PqTokenSigner, type EvaluateOptions, type Verdict } from '../index'
import { caught, rejection } from './fixtures/outcomes'

const POLICY = {
  policies: [
    {
      name: 'support_refunds',
      effect: 'permit' as const,
      conditions: [{ identity_kind: 'agent' as const }, { identity_role: 'support' }, { action: 'issue_refund' }, { param_max: { field: 'amount', max: 1000 } }],
    },
    { name: 'admin_all', effect: 'permit' as const, conditions: [{ identity_role: 'admin' }] },
  ],
}
/** A hard cap no policy overrides: what params that went unread would escape. */
const INVARIANTS = [{ name: 'hard_cap', field: 'amount', maxValue: 50_000 }]
const refund = (principalId: string, roles: string[], amount: number): EvaluateOptions => ({
  principalId,
  principalKind: 'agent',
  actionName: 'issue_refund',
  roles,
  params: { amount },
})

/** A gate whose evaluateAsync answers inline (in-process stores, no signer). */
function inlineGate(): Gate {
  return Gate.fromObject(POLICY, { invariants: INVARIANTS, enableDrift: false })
}

/** A gate whose evaluateAsync is queued (not answered inline): a token signer does that. */
function queuedGate(policies: typeof POLICY = POLICY): Gate {
  return Gate.fromObject(policies, { invariants: INVARIANTS, tokenSigner: PqTokenSigner.generatePqOnly(), enableDrift: false })
}



/** `p`'s outcome, or 'pending' after `ms`: a test of settling must not hang on a bug. */
async function within<T>(p: Promise<T>, ms: number): Promise<T | 'pending'> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const late = new Promise<'pending'>((resolve) => {
    timer = setTimeout(() => resolve('pending'), ms)
  })
  try {
    return await Promise.race([p, late])
  } finally {
    clearTimeout(timer)
  }
}

describe('evaluateAsync while a getter submits another evaluation', () => {
  test("a getter that evaluates on another gate gets its own verdict, and the outer call keeps its own", async () => {
    const a = queuedGate()
    const b = queuedGate()
    const nested: Promise<Verdict>[] = []
    // The `ip` getter runs while A's evaluation is being submitted (the native side reads
    // the extras then): the nested evaluations on B must not take A's completion id.
    const hostile = {
      ...refund('mallory', ['sales'], 10),
      actionName: 'delete_everything',
      get ip(): string {
        for (let i = 0; i < 3; i++) nested.push(b.evaluateAsync(refund(`bot-${i}`, ['support'], 10)))
        return '10.0.0.1'
      },
    }
    const outer = a.evaluateAsync(hostile)
    const verdicts = await within(Promise.all([outer, ...nested]), 10_000)
    expect(verdicts).not.toBe('pending')
    const [va, ...vb] = verdicts as Verdict[]
    expect(va!.kind).toBe('refuse')
    expect(va!.code).toBe('NO_POLICY_MATCH')
    // The getter is read more than once (the extras check, then the native side).
    expect(vb.length).toBeGreaterThanOrEqual(3)
    for (const v of vb) {
      expect(v.kind).toBe('permit')
      expect(v.permitToken!.actionName).toBe('issue_refund')
    }
    // Capacity comes back once the native side has handed the verdicts over.
    await vi.waitFor(() => expect(a.pendingEvaluations + b.pendingEvaluations).toBe(0))
    a.close()
    b.close()
  })

  test('a getter that throws after submitting elsewhere rejects the outer call; the nested one still settles', async () => {
    const a = queuedGate()
    const b = queuedGate()
    let nested: Promise<Verdict> | undefined
    const hostile = {
      ...refund('mallory', ['support'], 10),
      get ip(): string {
        nested = b.evaluateAsync(refund('bot-1', ['support'], 10))
        throw new Error('getter boom')
      },
    }
    const outer = a.evaluateAsync(hostile)
    expect(outer).toBeInstanceOf(Promise)
    expect((await rejection(outer)).message).toBe('getter boom')
    const v = await within(nested!, 10_000)
    expect(v).not.toBe('pending')
    expect((v as Verdict).kind).toBe('permit')
    await vi.waitFor(() => expect(a.pendingEvaluations + b.pendingEvaluations).toBe(0))
    a.close()
    b.close()
  })

  test('a throwing getter or Proxy makes evaluateAsync reject, never throw, on every kind of gate', async () => {
    const throwingGetter = {
      ...refund('bot-1', ['support'], 10),
      get roles(): string[] {
        throw new Error('getter boom')
      },
    }
    const proxy = new Proxy(refund('bot-1', ['support'], 10), {
      get(target, key, receiver) {
        if (key === 'roles') throw new Error('proxy boom')
        return Reflect.get(target, key, receiver) as unknown
      },
    })
    for (const gate of [inlineGate(), queuedGate()]) {
      for (const [ctx, message] of [
        [throwingGetter, 'getter boom'],
        [proxy, 'proxy boom'],
      ] as const) {
        let p: Promise<Verdict> | undefined
        expect(() => {
          p = gate.evaluateAsync(ctx)
        }).not.toThrow()
        expect((await rejection(p!)).message).toBe(message)
      }
      gate.close()
    }
  })
})

describe('a sparse roles array claiming 2^32 - 1 elements', () => {
  const huge = (): string[] => {
    const roles: string[] = ['support']
    roles.length = 2 ** 32 - 1
    return roles
  }

  test('is an argument error on every entry point, and the process goes on', async () => {
    const gate = inlineGate()
    const queued = queuedGate()
    const ctx = (): EvaluateOptions => ({ ...refund('bot-1', [], 10), roles: huge() })
    const message = 'roles has 4294967295 entries, over the limit of 256'
    for (const err of [
      caught(() => gate.evaluate(ctx())),
      caught(() => gate.explain(ctx())),
      caught(() => new ActionContext(ctx())),
      await rejection(gate.evaluateAsync(ctx())),
      await rejection(queued.evaluateAsync(ctx())),
      await rejection(gate.explainAsync(ctx())),
    ]) {
      expect(err).toBeInstanceOf(InvalidArgumentError)
      expect(err.message).toBe(message)
    }
    expect(gate.evaluate(refund('bot-1', ['support'], 10)).kind).toBe('permit')
    queued.close()
  })

  test('as the policy list of fromObject it is a load error, not a hang or an abort', () => {
    const policies: unknown[] = [POLICY.policies[0]]
    policies.length = 2 ** 32 - 1
    const err = caught(() => Gate.fromObject({ policies } as never))
    expect(err.code).toBe('POLICY_PARSE')
    expect(err.message).toMatch(/policies\.1|#1/)
  })
})

describe('prototype pollution behind a hole in roles', () => {
  test("Array.prototype[0] = 'admin' does not fill a hole: an error, never a permit", async () => {
    const proto = Array.prototype as unknown as Record<string, unknown>
    proto[0] = 'admin'
    try {
      const gate = inlineGate()
      // eslint-disable-next-line no-sparse-arrays
      const ctx = (): EvaluateOptions => ({ principalId: 'mallory', principalKind: 'agent', actionName: 'drop_database', roles: new Array<string>(1) })
      const sync = caught(() => gate.evaluate(ctx()))
      expect(sync).toBeInstanceOf(InvalidArgumentError)
      expect(sync.message).toMatch(/^roles\[0\] must be a string/)
      expect(await rejection(gate.evaluateAsync(ctx()))).toBeInstanceOf(InvalidArgumentError)
      expect(caught(() => gate.explain(ctx()))).toBeInstanceOf(InvalidArgumentError)
      const built = caught(() => new ActionContext(ctx()))
      expect(built).toBeInstanceOf(InvalidArgumentError)
      expect(built.message).toBe('roles[0] must be a string (got a hole)')
      // A context without holes is judged as usual while the pollution stands.
      expect(gate.evaluate({ ...ctx(), roles: ['sales'] }).kind).toBe('refuse')
    } finally {
      delete proto[0]
    }
  })

  test('a hole in ActionContext roles is an error even without pollution', () => {
    const roles = ['support', 'sales']
    delete roles[0]
    const err = caught(() => new ActionContext({ ...refund('bot-1', [], 10), roles }))
    expect(err).toBeInstanceOf(InvalidArgumentError)
    expect(err.message).toBe('roles[0] must be a string (got a hole)')
  })
})

describe('params that are not a plain record', () => {
  class RefundParams {
    get amount(): number {
      return 60_000
    }
  }
  const cases: [string, unknown, string][] = [
    ['a Map', new Map([['amount', 60_000]]), 'an instance of Map'],
    ['a class instance', new RefundParams(), 'an instance of RefundParams'],
    ['an array', [60_000], 'array'],
    ['Object.create({ amount })', Object.create({ amount: 60_000 }) as unknown, 'an object with another prototype'],
    ['a number', 60_000, 'number'],
    ['a string', 'amount=60000', 'string'],
    ['a boolean', true, 'boolean'],
  ]

  test.each(cases)('%s is an argument error on every path, never "no params"', async (_, params, got) => {
    const gate = inlineGate()
    const message = `params must be a plain object of numbers and strings (got ${got})`
    const ctx = { ...refund('bot-1', ['support'], 0), params } as unknown as EvaluateOptions
    // Nine roles: the general path (the fast path carries eight).
    const wide = { ...ctx, roles: ['support', 'r1', 'r2', 'r3', 'r4', 'r5', 'r6', 'r7', 'r8'] }
    for (const err of [
      caught(() => gate.evaluate(ctx)),
      caught(() => gate.evaluate(wide)),
      caught(() => gate.explain(ctx)),
      caught(() => new ActionContext(ctx)),
      await rejection(gate.evaluateAsync(ctx)),
      await rejection(gate.explainAsync(ctx)),
      await rejection(queuedGate().evaluateAsync(ctx)),
    ]) {
      expect(err).toBeInstanceOf(InvalidArgumentError)
      expect(err.message).toBe(message)
    }
  })

  test('a plain record, a null-prototype one and a frozen one are read, so the invariant refuses', () => {
    const gate = inlineGate()
    const nullProto = Object.assign(Object.create(null) as Record<string, number>, { amount: 60_000 })
    for (const params of [{ amount: 60_000 }, nullProto, Object.freeze({ amount: 60_000 })]) {
      const v = gate.evaluate({ ...refund('bot-1', ['admin'], 0), params })
      expect(v.code).toBe('INVARIANT_VIOLATION')
    }
  })
})

describe('plain params of another realm', () => {
  test('a record made in a node:vm context is read as params on every path', async () => {
    const gate = inlineGate()
    const params = runInNewContext('({ amount: 60000 })') as Record<string, number>
    expect(Object.getPrototypeOf(params)).not.toBe(Object.prototype)
    const ctx = { ...refund('bot-1', ['admin'], 0), params }
    expect(gate.evaluate(ctx).code).toBe('INVARIANT_VIOLATION')
    expect((await gate.evaluateAsync(ctx)).code).toBe('INVARIANT_VIOLATION')
    expect(gate.explain(ctx).verdict.code).toBe('INVARIANT_VIOLATION')
    // A class instance of that realm is still no record.
    const instance = runInNewContext('new (class Params { constructor() { this.amount = 1 } })()') as Record<string, number>
    expect(caught(() => gate.evaluate({ ...ctx, params: instance })).message).toBe('params must be a plain object of numbers and strings (got an instance of Params)')
  })
})

describe('explain reads null roles and params as evaluate does', () => {
  test('absent, not a conversion error', async () => {
    const gate = inlineGate()
    const ctx = { ...refund('bot-1', [], 10), roles: null, params: null } as unknown as EvaluateOptions
    expect(gate.evaluate(ctx).code).toBe('NO_POLICY_MATCH')
    expect(gate.explain(ctx).verdict.code).toBe('NO_POLICY_MATCH')
    expect((await gate.explainAsync(ctx)).verdict.code).toBe('NO_POLICY_MATCH')
  })
})

describe('unknown option names in a message', () => {
  test('the first five, then how many more: a million unknown keys make a short message', () => {
    const options: Record<string, number> = {}
    for (let i = 0; i < 1_000_000; i++) options[`k${i}`] = i
    const err = caught(() => Gate.fromObject(POLICY, options as never))
    expect(err.message).toMatch(/unknown option\(s\) 'k0', 'k1', 'k2', 'k3', 'k4' and 999995 more/)
    expect(err.message.length).toBeLessThan(400)
  })
})

describe('null in optional fields', () => {
  test.each([
    ['resource', 'resource must be a string (got null)'],
    ['ip', 'ip must be a string (got null)'],
    ['sessionId', 'sessionId must be a string (got null)'],
    ['originIp', 'originIp must be a string (got null)'],
    ['currentGeo', 'currentGeo must be an object (got null)'],
    ['originGeo', 'originGeo must be an object (got null)'],
    ['device', 'device must be an object (got null)'],
    ['originDevice', 'originDevice must be an object (got null)'],
    ['sessionStartedAt', 'sessionStartedAt must be a number (got null)'],
    ['actionCount', 'actionCount must be a number (got null)'],
  ])('%s: null is an argument error naming the field', async (field, message) => {
    const gate = inlineGate()
    const ctx = { ...refund('bot-1', ['support'], 10), [field]: null } as unknown as EvaluateOptions
    for (const err of [caught(() => gate.evaluate(ctx)), await rejection(gate.evaluateAsync(ctx)), await rejection(queuedGate().evaluateAsync(ctx))]) {
      expect(err).toBeInstanceOf(InvalidArgumentError)
      expect(err.message).toBe(message)
    }
  })

  test.each([
    ['currentGeo', { latitude: 10, longitude: 0 }, 'currentGeo.countryCode is missing (a geo needs its country code, a string)'],
    ['originGeo', { city: 'Lyon' }, 'originGeo.countryCode is missing (a geo needs its country code, a string)'],
    ['currentGeo', { countryCode: null }, 'currentGeo.countryCode must be a string (got null)'],
    ['currentGeo', { countryCode: 7 }, 'currentGeo.countryCode must be a string (got number)'],
  ])('%s %j: an argument error saying what is wrong with countryCode', async (field, geo, message) => {
    const gate = inlineGate()
    const ctx = { ...refund('bot-1', ['support'], 10), [field]: geo } as unknown as EvaluateOptions
    for (const err of [caught(() => gate.evaluate(ctx)), await rejection(gate.evaluateAsync(ctx)), await rejection(queuedGate().evaluateAsync(ctx))]) {
      expect(err).toBeInstanceOf(InvalidArgumentError)
      expect(err.message).toBe(message)
    }
  })

  test('roles: null and params: null mean absent', () => {
    const gate = inlineGate()
    const v = gate.evaluate({ ...refund('bot-1', [], 10), roles: null, params: null } as unknown as EvaluateOptions)
    expect(v.code).toBe('NO_POLICY_MATCH')
  })
})

describe('names in NFD', () => {
  test("a permit's token names the action in NFC on the fast path, as on every other path", async () => {
    const nfc = 'résumé.export'.normalize('NFC')
    const nfd = nfc.normalize('NFD')
    expect(nfd).not.toBe(nfc)
    const policies = { policies: [{ name: 'export', effect: 'permit' as const, conditions: [{ action: nfc }] }] }
    const gate = Gate.fromObject(policies)
    const ctx = { principalId: 'u1', principalKind: 'user' as const, actionName: nfd }
    const fast = gate.evaluate(ctx)
    expect(fast.kind).toBe('permit')
    expect(fast.permitToken!.actionName).toBe(nfc)
    // Nine roles: the general path.
    const general = gate.evaluate({ ...ctx, roles: ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i'] })
    expect(general.permitToken!.actionName).toBe(nfc)
    const queued = queuedGate(policies as unknown as typeof POLICY)
    expect((await queued.evaluateAsync(ctx)).permitToken!.actionName).toBe(nfc)
    expect(gate.explain(ctx).verdict.permitToken!.actionName).toBe(nfc)
    queued.close()
  })
})

describe('explainAsync checks a context as explain does', () => {
  test('an unknown key is INVALID_CONTEXT, a wrong type names the field', async () => {
    const gate = inlineGate()
    const typo = await rejection(gate.explainAsync({ ...refund('bot-1', [], 10), role: ['admin'] } as unknown as EvaluateOptions))
    expect(typo).toBeInstanceOf(InvalidContextError)
    expect(typo.message).toMatch(/unknown key 'role'.*did you mean 'roles'\?/)
    const wrong = await rejection(gate.explainAsync({ ...refund('bot-1', [], 10), principalId: 42 } as unknown as EvaluateOptions))
    expect(wrong).toBeInstanceOf(InvalidArgumentError)
    expect(wrong.message).toBe('principalId must be a string (got number)')
  })
})
