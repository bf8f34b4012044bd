// Each context field is read once (issue 18 P6): a getter that answers differently on a second
// read cannot make the verdict report another action than the one evaluated.

import { describe, expect, test } from 'vitest'

import { Gate, KavachKeyPair, SignedAuditChain, type EvaluateOptions, type Verdict } from '../index'

test('a getter on actionName read twice: the permit token names the action that was evaluated', () => {
  const gate = Gate.fromObject({
    policies: [
      { name: 'reads', effect: 'permit', conditions: [{ action: 'read' }] },
      { name: 'no-delete', effect: 'refuse', conditions: [{ action: 'delete_everything' }] },
    ],
  })
  let reads = 0
  const ctx = {
    principalId: 'u',
    principalKind: 'user' as const,
    get actionName(): string {
      return reads++ === 0 ? 'read' : 'delete_everything'
    },
  }
  const v = gate.evaluate(ctx)
  expect(v.isPermit).toBe(true)
  expect(v.permitToken?.actionName).toBe('read')
  expect(reads).toBe(1)
})

test('a getter that evaluates another context on another gate: the permit token still names this action', () => {
  const gate = Gate.fromObject({ policies: [{ name: 'reads', effect: 'permit', conditions: [{ action: 'read' }] }] })
  const other = Gate.fromObject({ policies: [{ name: 'all', effect: 'permit', conditions: [] }] })
  const ctx = {
    principalId: 'u',
    principalKind: 'user' as const,
    actionName: 'read',
    get params(): Record<string, number> {
      expect(other.evaluate({ principalId: 'v', principalKind: 'user', actionName: 'write' }).permitToken?.actionName).toBe('write')
      return { n: 1 }
    },
  }
  const v = gate.evaluate(ctx)
  expect(v.isPermit).toBe(true)
  expect(v.permitToken?.actionName).toBe('read')
})

describe('a getter that evaluates on the same gate while its own context is being read', () => {
  // The fast path's numbers (principal kind, lengths, param values) go through one array per
  // gate. A nested evaluation on the same gate, run by a getter of the outer context, must not
  // replace the numbers the outer call has written: here it would turn an external principal,
  // whom no policy permits, into an agent.
  const POLICIES = { policies: [{ name: 'agents_read', effect: 'permit' as const, conditions: [{ identity_kind: 'agent' as const }, { action: 'read' }] }] }
  const inner = { principalId: 'u', principalKind: 'agent', actionName: 'read', params: { n: 1 } } as const

  function outer(evaluateInner: () => void, on: 'params' | 'resource'): EvaluateOptions {
    const ctx: Record<string, unknown> = { principalId: 'u', principalKind: 'external', actionName: 'read' }
    Object.defineProperty(ctx, on, {
      enumerable: true,
      get() {
        evaluateInner()
        return on === 'params' ? { n: 1 } : 'orders/1'
      },
    })
    return ctx as unknown as EvaluateOptions
  }

  test.each(['params', 'resource'] as const)('evaluate, getter on %s: the outer call is refused, the inner one permitted', (on) => {
    const gate = Gate.fromObject(POLICIES)
    const seen: string[] = []
    const v = gate.evaluate(outer(() => seen.push(gate.evaluate(inner).kind), on))
    expect(seen).toContain('permit')
    expect(v.kind).toBe('refuse')
    expect(v.code).toBe('NO_POLICY_MATCH')
    expect(gate.evaluate(inner).kind).toBe('permit')
  })

  test.each(['params', 'resource'] as const)('evaluateAsync through the pipeline, getter on %s: the same', async (on) => {
    // An audited gate is not answered inline: evaluateAsync submits to the native pipeline.
    const gate = Gate.fromObject(POLICIES, { audit: new SignedAuditChain(KavachKeyPair.generate()) })
    const nested: Array<Promise<Verdict>> = []
    const v = await gate.evaluateAsync(outer(() => nested.push(gate.evaluateAsync(inner)), on))
    expect((await Promise.all(nested)).map((n) => n.kind)).toContain('permit')
    expect(v.kind).toBe('refuse')
    expect(v.code).toBe('NO_POLICY_MATCH')
    expect((await gate.evaluateAsync(inner)).kind).toBe('permit')
  })
})
