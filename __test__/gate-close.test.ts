// A closed gate refuses: it no longer hears revocations from its broadcaster, so answering from
// what it holds could permit a principal another gate has revoked since. Every entry point
// refuses the same way (STORE_UNAVAILABLE from evaluator `gate`), from the moment close() is
// called, before its promise settles.

import { describe, expect, test } from 'vitest'

import { Gate, InMemoryInvalidationBroadcaster, Refused, type EvaluateOptions, type Verdict } from '../index'
import { CLOSED_REASON } from './fixtures/closed-gate'

const POLICY = { policies: [{ name: 'all', effect: 'permit' as const, conditions: [] }] }
const CALL: EvaluateOptions = { principalId: 'mallory', principalKind: 'agent', actionName: 'wire_money' }

function refusal(v: Pick<Verdict, 'code' | 'evaluator' | 'reason'>): [string | undefined, string | undefined, string | undefined] {
  return [v.code, v.evaluator, v.reason]
}
const CLOSED: ReturnType<typeof refusal> = ['STORE_UNAVAILABLE', 'gate', CLOSED_REASON]

describe('gate.close()', () => {
  test('a closed gate refuses a revocation it can no longer hear, where its replica refuses it as revoked', async () => {
    const broadcaster = new InMemoryInvalidationBroadcaster()
    const a = Gate.fromObject(POLICY, { broadcaster })
    const b = Gate.fromObject(POLICY, { broadcaster })
    expect(a.evaluate(CALL).isPermit).toBe(true)
    await a.close()
    await b.revoke({ targetKind: 'principal', targetId: 'mallory' })
    expect(b.evaluate(CALL).code).toBe('SESSION_INVALID')
    expect(refusal(a.evaluate(CALL))).toEqual(CLOSED)
    await b.close()
  })

  test('every entry point refuses, from the call of close() on', async () => {
    const gate = Gate.fromObject(POLICY)
    const closing = gate.close()
    // Not awaited yet: the refusal starts with the call.
    expect(refusal(gate.evaluate(CALL))).toEqual(CLOSED)
    await closing
    expect(refusal(gate.evaluate(CALL))).toEqual(CLOSED)
    expect(refusal(await gate.evaluateAsync(CALL))).toEqual(CLOSED)
    // The general path (a context the fast path does not carry) too.
    expect(refusal(gate.evaluate({ ...CALL, params: Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`p${i}`, i])) }))).toEqual(CLOSED)
    const thrown = (() => {
      try {
        gate.check(CALL)
      } catch (e) {
        return e
      }
    })()
    expect(thrown).toBeInstanceOf(Refused)
    expect((thrown as Refused).code).toBe('STORE_UNAVAILABLE')
    await expect(gate.checkAsync(CALL)).rejects.toBeInstanceOf(Refused)
    const explained = gate.explain(CALL)
    expect(refusal(explained.verdict)).toEqual(CLOSED)
    expect(explained.steps.at(-1)).toMatchObject({ evaluator: 'gate', subject: 'closed', decisive: true })
    // Closing twice is harmless.
    await expect(gate.close()).resolves.toBeUndefined()
  })

  test('an observe-only gate, closed, permits as observe-only does and records the refusal it observed', async () => {
    const gate = Gate.fromObject(POLICY, { observeOnly: true })
    await gate.close()
    const v = gate.evaluate(CALL)
    expect(v.isPermit).toBe(true)
    expect(refusal(v.observed!)).toEqual(CLOSED)
  })
})
