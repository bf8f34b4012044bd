// Strings that are signed or name an identity must be well-formed UTF-16: a lone surrogate
// reaches the native side as U+FFFD, so 'pay\ud800' and 'pay\udfff' would be signed, stored or
// revoked as one string. Each is an argument error naming the field and the index; a
// well-formed string with a surrogate pair (an emoji) is accepted as itself.

import { describe, expect, test } from 'vitest'

import { AuditEntry, Gate, InvalidArgumentError, KavachKeyPair, PqTokenSigner, PublicKeyBundle, PublicKeyDirectory, type PermitTokenInput } from '../index'
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

describe('lone surrogates in the strings of the crypto classes', () => {
  const alice = KavachKeyPair.generate()

  test('a passphrase with one neither exports nor imports; an export never opens with a collapsed passphrase', async () => {
    expectLoneSurrogate(caught(() => alice.exportSecret('\ud800')), 'KavachKeyPair.exportSecret: passphrase', 'D800', 0)
    expectLoneSurrogate(caught(() => alice.exportSecret('pw\udc00x')), 'KavachKeyPair.exportSecret: passphrase', 'DC00', 2)
    // Exported under U+FFFD (well-formed), the secret opens with U+FFFD only: '\udbff' and
    // 'pw\ud801x' reach the native side as U+FFFD too and are refused before it.
    const blob = alice.exportSecret('\ufffd')
    expectLoneSurrogate(caught(() => KavachKeyPair.importSecret(blob, '\udbff')), 'KavachKeyPair.importSecret: passphrase', 'DBFF', 0)
    expectLoneSurrogate(await rejection(KavachKeyPair.importSecretAsync(blob, '\ud800')), 'KavachKeyPair.importSecretAsync: passphrase', 'D800', 0)
    expect(KavachKeyPair.importSecret(blob, '\ufffd').id).toBe(alice.id)
    const pair = alice.exportSecret('pw\ufffdx')
    expectLoneSurrogate(caught(() => KavachKeyPair.importSecret(pair, 'pw\ud801x')), 'KavachKeyPair.importSecret: passphrase', 'D801', 2)
  })

  test('a surrogate pair (an emoji) in a passphrase is a passphrase of its own', () => {
    const blob = alice.exportSecret('key \ud83d\udd11')
    expect(KavachKeyPair.importSecret(blob, 'key \ud83d\udd11').id).toBe(alice.id)
  })

  test("a signer's key id with one is refused by hybrid, hybridFromBytes and pqOnly", () => {
    const keys = alice.publicKeys()
    const none = Buffer.alloc(0)
    expectLoneSurrogate(caught(() => PqTokenSigner.pqOnly(none, keys.mlDsaVerifyingKey, 'id\ud800')), 'PqTokenSigner.pqOnly: keyId', 'D800', 2)
    expectLoneSurrogate(caught(() => PqTokenSigner.hybrid(none, keys.mlDsaVerifyingKey, none, keys.ed25519VerifyingKey, '\udfffid')), 'PqTokenSigner.hybrid: keyId', 'DFFF', 0)
    expectLoneSurrogate(caught(() => PqTokenSigner.hybridFromBytes(none, keys.mlDsaVerifyingKey, none, keys.ed25519VerifyingKey, 'i\ud800d')), 'PqTokenSigner.hybridFromBytes: keyId', 'D800', 1)
    expect(PqTokenSigner.pqOnly(none, keys.mlDsaVerifyingKey, 'id\ud83d\udd11').keyId).toBe('id\u{1F511}')
  })

  test('bundle JSON with one is refused before parsing; a directory neither finds nor removes a key by a collapsed id', () => {
    const json = alice.publicKeys().toJSON()
    const replaced = json.replace(alice.id, 'kavach-key-\ud800')
    expectLoneSurrogate(caught(() => PublicKeyBundle.fromJSON(replaced)), 'PublicKeyBundle.fromJSON: json', 'D800', replaced.indexOf('\ud800'))
    const bundle = PublicKeyBundle.fromJSON(json.replace(alice.id, 'kavach-key-\ufffd'))
    const dir = PublicKeyDirectory.inMemory([bundle])
    expectLoneSurrogate(caught(() => dir.remove('kavach-key-\ud800')), 'PublicKeyDirectory.remove: keyId', 'D800', 11)
    expectLoneSurrogate(caught(() => dir.fetch('kavach-key-\udfff')), 'PublicKeyDirectory.fetch: keyId', 'DFFF', 11)
    expect(dir.keyIds()).toEqual(['kavach-key-\ufffd'])
    expect(dir.fetch('kavach-key-\ufffd').id).toBe('kavach-key-\ufffd')
  })
})
