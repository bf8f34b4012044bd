// Strings that are signed or name an identity must be well-formed UTF-16: a lone surrogate
// reaches the native side as U+FFFD, so 'pay\ud800' and 'pay\udfff' would be signed, stored or
// revoked as one string. Each is an argument error naming the field and the index; a
// well-formed string with a surrogate pair (an emoji) is accepted as itself.

import { describe, expect, test } from 'vitest'

import { AuditEntry, Gate, InvalidArgumentError, PqTokenSigner, type PermitTokenInput } from '../index'
import { caught, rejection } from './fixtures/outcomes'

const POLICY = { policies: [{ name: 'all', effect: 'permit' as const, conditions: [] }] }



function expectLoneSurrogate(err: Error & { code?: string }, field: string, unit: string, index: number): void {
  expect(err).toBeInstanceOf(InvalidArgumentError)
  expect(err.code).toBe('INVALID_ARGUMENT')
  expect(err.message).toContain(field)
  expect(err.message).toContain(`has a lone surrogate (\\u${unit}) at index ${index}: only well-formed strings are accepted`)
}

describe('lone surrogates', () => {
  test('a session id with one is refused on every evaluation path; a surrogate pair is a session of its own', async () => {
    const gate = Gate.fromObject(POLICY)
    const ctx = (sessionId: string) => ({ principalId: 'u1', principalKind: 'user' as const, actionName: 'read', sessionId })
    expectLoneSurrogate(caught(() => gate.evaluate(ctx('s\ud800'))), 'sessionId', 'D800', 1)
    expectLoneSurrogate(await rejection(gate.evaluateAsync(ctx('s\udfff'))), 'sessionId', 'DFFF', 1)
    expectLoneSurrogate(caught(() => gate.explain(ctx('\udc00x'))), 'sessionId', 'DC00', 0)
    expect(gate.evaluate(ctx('s\ud83d\udd11')).kind).toBe('permit')
    // Revoking the emoji session leaves a session named by U+FFFD alone, and the reverse.
    await gate.revoke({ targetKind: 'session', targetId: 's\ud83d\udd11' })
    expect(gate.evaluate(ctx('s\ud83d\udd11')).code).toBe('SESSION_INVALID')
    expect(gate.evaluate(ctx('s\ufffd')).kind).toBe('permit')
  })

  test('revoke and lift refuse a target id with one', async () => {
    const gate = Gate.fromObject(POLICY)
    expectLoneSurrogate(await rejection(gate.revoke({ targetKind: 'session', targetId: 'sess\ud800' })), 'targetId', 'D800', 4)
    expectLoneSurrogate(caught(() => gate.lift({ targetKind: 'principal', targetId: '\udfffbob' })), 'targetId', 'DFFF', 0)
  })

  test("a permit token's action name with one is neither signed nor verified", () => {
    const signer = PqTokenSigner.generatePqOnly()
    const token: PermitTokenInput = {
      tokenId: '3b2f7a64-1c1e-4d7e-9b1a-2f4e5d6c7b8a',
      evaluationId: '9c8b7a65-4d3c-4b2a-8f1e-0d9c8b7a6f5e',
      issuedAt: 1_700_000_000,
      expiresAt: 1_700_000_060,
      actionName: 'pay',
    }
    const sig = signer.sign(token)
    expect(() => signer.verify(token, sig)).not.toThrow()
    expectLoneSurrogate(caught(() => signer.sign({ ...token, actionName: 'pay\ud800' })), "field 'actionName'", 'D800', 3)
    expectLoneSurrogate(caught(() => signer.verify({ ...token, actionName: 'pay\udfff' }, sig)), "field 'actionName'", 'DFFF', 3)
  })

  test('an audit entry with one in any of its strings is refused', () => {
    const fine = JSON.parse(AuditEntry.new('bob', 'pay', 'permit', 'ok \ud83d\udd11').toJSON()) as { verdict_detail: string }
    expect(fine.verdict_detail).toBe('ok \u{1F511}')
    expectLoneSurrogate(caught(() => AuditEntry.new('bob\ud800', 'pay', 'permit', 'd')), 'principalId', 'D800', 3)
    expectLoneSurrogate(caught(() => AuditEntry.new('bob', 'pay', 'permit', 'detail \udfff')), 'detail', 'DFFF', 7)
    expectLoneSurrogate(caught(() => AuditEntry.new('bob', 'pay', 'permit', 'd', { sessionId: 's\ud800' })), "option 'sessionId'", 'D800', 1)
  })
})
