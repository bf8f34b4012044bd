// Each context field is read once (issue 18 P6): a getter that answers differently on a second
// read cannot make the verdict report another action than the one evaluated.

import { expect, test } from 'vitest'

import { Gate } from '../index'

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
