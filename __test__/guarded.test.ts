import { execFileSync } from 'node:child_process'
import { join } from 'node:path'

import { describe, expect, test } from 'vitest'

import { Gate, RedisRateLimitStore, Refused, SyncNotSupportedError, guard, guarded, runAs, type Caller } from '../index'

const gate = Gate.fromObject({
  policies: [
    {
      name: 'support_refunds',
      effect: 'permit',
      conditions: [{ identity_role: 'support' }, { action: 'issue_refund' }, { param_max: { field: 'amount', max: 1000 } }],
    },
  ],
})
const bot: Caller = { principalId: 'agent-bot', principalKind: 'agent', roles: ['support'], sessionId: 'sess-1' }
const stranger: Caller = { principalId: 'x', principalKind: 'external' }

describe('guarded()', () => {
  test('async: permit runs the function, refuse throws Refused and does not run it', async () => {
    let runs = 0
    const issueRefund = guarded(gate, { action: 'issue_refund', params: (_orderId: string, amount: number) => ({ amount }) }, async (orderId: string, amount: number) => {
      runs++
      return { status: 'refunded', orderId, amount }
    })
    await expect(issueRefund.as(bot)('ORD-1', 500)).resolves.toEqual({ status: 'refunded', orderId: 'ORD-1', amount: 500 })
    await expect(issueRefund.as(bot)('ORD-2', 5000)).rejects.toBeInstanceOf(Refused)
    await expect(issueRefund.as(stranger)('ORD-3', 1)).rejects.toThrow(/NO_POLICY_MATCH/)
    expect(runs).toBe(1)
  })

  test('sync stays sync, async stays async', () => {
    const syncFn = guarded(gate, { action: 'issue_refund', paramFields: { amount: 0 } }, (amount: number) => amount * 2)
    const result: number = syncFn.as(bot)(10)
    expect(result).toBe(20)
    const asyncFn = guarded(gate, { action: 'issue_refund', paramFields: { amount: 0 } }, async (amount: number) => amount * 2)
    const p = asyncFn.as(bot)(10)
    expect(p).toBeInstanceOf(Promise)
    return expect(p).resolves.toBe(20)
  })

  test('no caller refuses (never an anonymous permit)', async () => {
    let runs = 0
    const syncFn = guarded(gate, { action: 'issue_refund' }, () => runs++)
    expect(() => syncFn()).toThrow(Refused)
    expect(() => syncFn()).toThrow(/no caller/)
    const asyncFn = guarded(gate, { action: 'issue_refund' }, async () => runs++)
    await expect(asyncFn()).rejects.toBeInstanceOf(Refused)
    expect(runs).toBe(0)
  })

  test('runAs supplies the caller through async context', async () => {
    const issueRefund = guarded(gate, { action: 'issue_refund', paramFields: { amount: 1 } }, async (orderId: string, amount: number) => `${orderId}:${amount}`)
    await expect(runAs(bot, () => issueRefund('ORD-9', 100))).resolves.toBe('ORD-9:100')
    await expect(runAs(bot, async () => {
      await new Promise((r) => setImmediate(r))
      return issueRefund('ORD-10', 2000)
    })).rejects.toBeInstanceOf(Refused)
    await expect(runAs(stranger, () => issueRefund('ORD-11', 1))).rejects.toBeInstanceOf(Refused)
    await expect(issueRefund('ORD-12', 1)).rejects.toThrow(/no caller/)
  })

  test('a param the gate cannot read refuses with INVALID_CONTEXT instead of being dropped', () => {
    let runs = 0
    const fn = guarded(gate, { action: 'issue_refund', params: (amount: unknown) => ({ amount }) }, (amount: unknown) => {
      runs++
      return amount
    })
    for (const bad of [true, null, undefined, {}, [1], 10n, new Number(5), Number.NaN, Infinity]) {
      expect(() => fn.as(bot)(bad), String(bad)).toThrow(expect.objectContaining({ name: 'Refused', code: 'INVALID_CONTEXT' }))
    }
    expect(() => fn.as(bot)(true)).toThrow(/param 'amount' must be a finite number or a string, got boolean/)
    expect(runs).toBe(0)
    expect(fn.as(bot)(999)).toBe(999)
    expect(runs).toBe(1)
  })

  describe('an invariant amount <= 100 is never skipped by a value the gate cannot read', () => {
    const capped = Gate.fromObject(
      { policies: [{ name: 'all', effect: 'permit', conditions: [] }] },
      { invariants: [{ name: 'cap', field: 'amount', maxValue: 100 }] },
    )
    const huge = 10n ** 20n

    test('params(): bigint, boxed Number, object (sync and async)', async () => {
      let runs = 0
      const pay = guarded(capped, { action: 'pay', params: (a: unknown) => ({ amount: a }) }, (a: unknown) => {
        runs++
        return a
      })
      const payAsync = guarded(capped, { action: 'pay', params: (a: unknown) => ({ amount: a }) }, async (a: unknown) => {
        runs++
        return a
      })
      for (const bad of [huge, new Number(1e9), { valueOf: () => 1e9 }]) {
        expect(() => pay.as(bot)(bad)).toThrow(expect.objectContaining({ code: 'INVALID_CONTEXT' }))
        await expect(payAsync.as(bot)(bad)).rejects.toMatchObject({ code: 'INVALID_CONTEXT' })
      }
      expect(runs).toBe(0)
      expect(() => pay.as(bot)(1e9)).toThrow(/INVARIANT_VIOLATION/)
      expect(pay.as(bot)(50)).toBe(50)
    })

    test('paramFields: a bigint argument, and an index past the arguments', async () => {
      let runs = 0
      const pay = guarded(capped, { action: 'pay', paramFields: { amount: 1 } }, (...args: unknown[]) => {
        runs++
        return args.length
      })
      expect(() => pay.as(bot)('ORD', huge)).toThrow(expect.objectContaining({ code: 'INVALID_CONTEXT' }))
      expect(() => pay.as(bot)('ORD')).toThrow(/param 'amount' reads argument 1, but the call has 1 argument/)
      const payAsync = guarded(capped, { action: 'pay', paramFields: { amount: 1 } }, async (...args: unknown[]) => {
        runs++
        return args.length
      })
      await expect(payAsync.as(bot)('ORD')).rejects.toMatchObject({ code: 'INVALID_CONTEXT' })
      await expect(payAsync.as(bot)('ORD', huge)).rejects.toMatchObject({ code: 'INVALID_CONTEXT' })
      expect(runs).toBe(0)
      expect(pay.as(bot)('ORD', 10)).toBe(2)
    })

    test('a paramFields index that is not an argument index throws at wrap time', () => {
      for (const index of [-1, 1.5, Number.NaN, '0']) {
        expect(() => guarded(capped, { action: 'pay', paramFields: { amount: index as number } }, () => 1)).toThrow(
          expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('paramFields.amount') }),
        )
      }
    })
  })

  describe('options are checked by name when guarded() or guard() is called', () => {
    // A refund of 50,000 must meet the refuse policy and the invariant on `amount`.
    const refunds = Gate.fromObject(
      {
        policies: [
          { name: 'no_big_refunds', effect: 'refuse', priority: 1, conditions: [{ action: 'issue_refund' }, { param_min: { field: 'amount', min: 10000 } }] },
          { name: 'agent_refunds', effect: 'permit', conditions: [{ identity_kind: 'agent' }, { action: 'issue_refund' }] },
        ],
      },
      { invariants: [['hard_cap', 'amount', 5000]] },
    )
    const refund = async (_orderId: string, amount: number): Promise<string> => `refunded ${amount}`
    const misspelt = [
      { options: { action: 'issue_refund', paramField: { amount: 1 } }, message: "guarded options: unknown option(s) 'paramField'" },
      { options: { action: 'issue_refund', param: (_o: string, amount: number) => ({ amount }) }, message: "guarded options: unknown option(s) 'param'" },
      { options: { action: 'issue_refund', paramsFields: { amount: 1 }, resouce: 'r' }, message: "guarded options: unknown option(s) 'paramsFields', 'resouce'" },
    ]

    test('a misspelt option throws InvalidArgumentError naming it, so no param goes unsent', async () => {
      for (const { options, message } of misspelt) {
        expect(() => guarded(refunds, options as never, refund)).toThrow(expect.objectContaining({ name: 'InvalidArgumentError', code: 'INVALID_ARGUMENT', message }))
      }
      await expect(guarded(refunds, { action: 'issue_refund', paramFields: { amount: 1 } }, refund).as(bot)('ORD-1', 50_000)).rejects.toThrow(
        expect.objectContaining({ name: 'Refused', code: 'POLICY_DENIED' }),
      )
    })

    test('guard() checks them when it is called, before any method is decorated', () => {
      expect(() => guard(refunds, { action: 'issue_refund', paramField: { amount: 0 } } as never)).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT', message: "guard options: unknown option(s) 'paramField'" }),
      )
    })

    test('params and paramFields together throw, saying to pick one', () => {
      const both = { action: 'issue_refund', params: () => ({ amount: 1 }), paramFields: { amount: 1 } }
      const message =
        "'params' and 'paramFields' are both given; pick one: params (a function of the arguments) or paramFields (argument indices)"
      expect(() => guarded(refunds, both, refund)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', message: `guarded options: ${message}` }))
      expect(() => guard(refunds, both)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', message: `guard options: ${message}` }))
    })

    test('a value of the wrong type throws naming the option', () => {
      const cases: [Record<string, unknown>, string][] = [
        [{ action: 7 }, "guarded options: option 'action': must be a string, got number"],
        [{ action: 'a', params: { amount: 1 } }, "guarded options: option 'params': must be a function, got object"],
        [{ action: 'a', paramFields: [1] }, "guarded options: option 'paramFields': must be an object, got array"],
        [{ action: 'a', resource: 5 }, "guarded options: option 'resource': must be a string or a function, got number"],
        [{ action: 'a', async: 'yes' }, "guarded options: option 'async': must be a boolean, got string"],
      ]
      for (const [options, message] of cases) {
        expect(() => guarded(refunds, options as never, refund), message).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', message }))
      }
    })

    test('every documented option still works, undefined counting as absent', async () => {
      const byFunction = guarded(refunds, { action: 'issue_refund', params: (_o: string, amount: number) => ({ amount }), resource: (o: string) => o, async: true, paramFields: undefined }, refund)
      await expect(byFunction.as(bot)('ORD-1', 100)).resolves.toBe('refunded 100')
      await expect(byFunction.as(bot)('ORD-2', 6000)).rejects.toThrow(expect.objectContaining({ code: 'INVARIANT_VIOLATION' }))
      const byIndex = guarded(refunds, { action: 'issue_refund', paramFields: { amount: 1 }, resource: 'orders' }, (_o: string, amount: number) => amount)
      expect(byIndex.as(bot)('ORD-3', 100)).toBe(100)
      expect(() => byIndex.as(bot)('ORD-4', 6000)).toThrow(expect.objectContaining({ code: 'INVARIANT_VIOLATION' }))
    })

    test('a missing action throws at wrap time naming guarded or guard options', () => {
      for (const options of [{}, { paramFields: { amount: 1 } }, { action: undefined }]) {
        expect(() => guarded(refunds, options as never, refund)).toThrow(
          expect.objectContaining({ name: 'InvalidArgumentError', code: 'INVALID_ARGUMENT', message: "guarded options: missing option(s) 'action'" }),
        )
        expect(() => guard(refunds, options as never)).toThrow(
          expect.objectContaining({ name: 'InvalidArgumentError', code: 'INVALID_ARGUMENT', message: "guard options: missing option(s) 'action'" }),
        )
      }
    })

    test('a class instance (params a method, action a getter) is read as given: the refuse policy on its params applies', async () => {
      class RefundGuard {
        // Private: an own enumerable field would be an option name, and unknown.
        readonly #divisor = 100
        get action(): string {
          return 'issue_refund'
        }
        params(_orderId: string, cents: number): Record<string, unknown> {
          return { amount: cents / this.#divisor }
        }
      }
      const g = guarded(refunds, new RefundGuard(), refund)
      await expect(g.as(bot)('ORD-1', 5_000)).resolves.toBe('refunded 5000')
      await expect(g.as(bot)('ORD-1', 5_000_000)).rejects.toThrow(expect.objectContaining({ name: 'Refused', code: 'POLICY_DENIED' }))
      const decorated = guard(refunds, new RefundGuard() as never)
      const method = decorated(refund, {} as ClassMethodDecoratorContext)
      await expect(runAs(bot, () => method('ORD-2', 5_000_000))).rejects.toThrow(expect.objectContaining({ code: 'POLICY_DENIED' }))
    })

    test('Object.create(defaults) is read as given; a typo in the defaults throws naming it', async () => {
      const g = guarded(refunds, Object.create({ action: 'issue_refund', paramFields: { amount: 1 } }) as never, refund)
      await expect(g.as(bot)('ORD-1', 50)).resolves.toBe('refunded 50')
      await expect(g.as(bot)('ORD-1', 50_000)).rejects.toThrow(expect.objectContaining({ name: 'Refused', code: 'POLICY_DENIED' }))
      expect(() => guarded(refunds, Object.create({ action: 'issue_refund', paramField: { amount: 1 } }) as never, refund)).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT', message: "guarded options: unknown option(s) 'paramField'" }),
      )
    })

    test('a polluted Object.prototype.params or action is not honoured', async () => {
      const proto = Object.prototype as Record<string, unknown>
      proto.params = () => ({ amount: 50_000 })
      let g: ((orderId: string, amount: number) => Promise<string>) & { as(c: Caller): (orderId: string, amount: number) => Promise<string> }
      try {
        g = guarded(refunds, { action: 'issue_refund' }, refund)
      } finally {
        delete proto.params
      }
      await expect(g.as(bot)('ORD-1', 50)).resolves.toBe('refunded 50')
      proto.action = 'issue_refund'
      try {
        expect(() => guarded(refunds, {} as never, refund)).toThrow(expect.objectContaining({ message: "guarded options: missing option(s) 'action'" }))
      } finally {
        delete proto.action
      }
    })
  })

  test('a sync function cannot be guarded by a gate with network stores (throws at wrap time)', async () => {
    const rateStore = await RedisRateLimitStore.connect('redis://127.0.0.1:6379', { prefix: 'test-guarded' })
    const networked = Gate.fromObject({ policies: [{ name: 'all', effect: 'permit', conditions: [{ rate_limit: { max: 100, window: '1m' } }] }] }, { rateStore })
    try {
      expect(networked.supportsSync).toBe(false)
      expect(() => guarded(networked, { action: 'issue_refund' }, (n: number) => n)).toThrow(SyncNotSupportedError)
      const asyncFn = guarded(networked, { action: 'issue_refund' }, async (n: number) => n + 1)
      await expect(asyncFn.as(bot)(1)).resolves.toBe(2)
    } finally {
      await networked.close()
      rateStore.close()
    }
  })

  test('guard() is a TS5 method decorator (applied by hand here)', async () => {
    let calls = 0
    const method = async function (this: unknown, amount: number): Promise<string> {
      calls++
      return `refunded ${amount}`
    }
    const decorated = guard(gate, { action: 'issue_refund', paramFields: { amount: 0 } })(method, { kind: 'method', name: 'refund' } as ClassMethodDecoratorContext<unknown, typeof method>)
    await expect(runAs(bot, () => decorated.call(null, 10))).resolves.toBe('refunded 10')
    await expect(runAs(bot, () => decorated.call(null, 10_000))).rejects.toBeInstanceOf(Refused)
    expect(calls).toBe(1)
  })

  test('@guard decorator syntax, compiled by tsx in a child process', () => {
    const root = join(__dirname, '..')
    const out = execFileSync(process.execPath, [join(root, 'node_modules/tsx/dist/cli.mjs'), join(__dirname, 'fixtures/decorator.ts')], { cwd: root, encoding: 'utf8' })
    expect(JSON.parse(out.trim())).toEqual(['refunded 10', 'sync 20', 'refused NO_POLICY_MATCH', 'refused INVALID_CONTEXT', 'calls 2'])
  })
})
