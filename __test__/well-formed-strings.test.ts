// Strings that are signed or name an identity must be well-formed UTF-16: a lone surrogate
// reaches the native side as U+FFFD, so 'pay\ud800' and 'pay\udfff' would be signed, stored or
// revoked as one string. Each is an argument error naming the field and the index; a
// well-formed string with a surrogate pair (an emoji) is accepted as itself.

import { describe, expect, test } from 'vitest'

import { AuditEntry, Gate, InvalidArgumentError, KavachKeyPair, PolicyParseError, PqTokenSigner, PublicKeyBundle, PublicKeyDirectory, type EvaluateOptions, type PermitTokenInput, type PolicySetInput } from '../index'
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

describe('lone surrogates in policies loaded from objects', () => {
  const tenants = (values: string[]): PolicySetInput => ({
    policies: [{ name: 'beta_tenant', effect: 'permit', conditions: [{ action: 'export' }, { param_in: { field: 'tenant', values } }] }],
  })

  function expectPolicyRefusal(err: Error & { code?: string }, message: string): void {
    expect(err).toBeInstanceOf(PolicyParseError)
    expect(err.code).toBe('POLICY_PARSE')
    expect(err.message).toBe(message)
  }

  test('fromObject and reloadObject refuse one in any string, naming the policy, the key and the index', () => {
    const at = (unit: string, index: number) => `has a lone surrogate (\\u${unit}) at index ${index}: only well-formed strings are accepted`
    expectPolicyRefusal(caught(() => Gate.fromObject(tenants(['acme\ud800']))), `policy 'beta_tenant': key '0' ${at('D800', 4)}`)
    expectPolicyRefusal(caught(() => Gate.fromObject(tenants(['ok', '\udfffacme']))), `policy 'beta_tenant': key '1' ${at('DFFF', 0)}`)
    // A property name: named by itself, U+FFFD where the surrogate was.
    const badKey = { policies: [{ name: 'p', effect: 'permit', conditions: [{ param_in: { field: 'tenant', values: ['a'], 'x\udbff': 1 } }] }] }
    expectPolicyRefusal(caught(() => Gate.fromObject(badKey as unknown as PolicySetInput)), `policy 'p': key 'x\ufffd' ${at('DBFF', 1)}`)
    const gate = Gate.fromObject(tenants(['acme']))
    expectPolicyRefusal(caught(() => gate.reloadObject(tenants(['acme\udc00']))), `policy 'beta_tenant': key '0' ${at('DC00', 4)}`)
    // The JSON loader refuses the same set: JSON text cannot hold a lone surrogate.
    expect(() => Gate.fromJsonString(JSON.stringify(tenants(['acme\ud800'])))).toThrow(PolicyParseError)
    // The policy's name is quoted as caller text is: control characters escaped.
    const named = { policies: [{ name: 'evil\u001b[2J', effect: 'permit', conditions: [{ param_in: { field: 'tenant', values: ['a\ud800'] } }] }] }
    expectPolicyRefusal(caught(() => Gate.fromObject(named as PolicySetInput)), `policy 'evil\\u{1b}[2J': key '0' ${at('D800', 1)}`)
  })

  test('a value with a surrogate pair or U+FFFD permits itself only', () => {
    const ctx = (tenant: string): EvaluateOptions => ({ principalId: 'bot', principalKind: 'agent', actionName: 'export', params: { tenant } })
    const pair = Gate.fromObject(tenants(['acme\ud83d\udd11']))
    expect(pair.evaluate(ctx('acme\u{1F511}')).kind).toBe('permit')
    expect(pair.evaluate(ctx('acme\ufffd')).kind).toBe('refuse')
    const replacement = Gate.fromObject(tenants(['acme\ufffd']))
    expect(replacement.evaluate(ctx('acme\ufffd')).kind).toBe('permit')
    expect(replacement.evaluate(ctx('acme')).kind).toBe('refuse')
  })
})

describe('lone surrogates in context params', () => {
  const gate = Gate.fromObject({
    policies: [{ name: 'beta_tenant', effect: 'permit', conditions: [{ action: 'export' }, { param_in: { field: 'tenant', values: ['acme\ufffd'] } }] }],
  })
  const ctx = (params: Record<string, string | number>): EvaluateOptions => ({ principalId: 'bot', principalKind: 'agent', actionName: 'export', params })
  /** More params than the fast path's layout carries: the general path reads them. */
  const many = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`p${i}`, i]))
  const refusal = (reason: string) => ({ kind: 'refuse', code: 'INVALID_CONTEXT', evaluator: 'gate', reason })
  const summary = (v: { kind: string; code?: string; evaluator?: string; reason?: string }) => ({ kind: v.kind, code: v.code, evaluator: v.evaluator, reason: v.reason })

  test('a string value with one refuses INVALID_CONTEXT naming the param and the index, on every path', async () => {
    const why = (unit: string) => `param 'tenant' has a lone surrogate (\\u${unit}) at index 4: only well-formed strings are accepted`
    for (const [tenant, unit] of [['acme\ud800', 'D800'], ['acme\udfff', 'DFFF'], ['acme\udbffx', 'DBFF']] as const) {
      expect(summary(gate.evaluate(ctx({ tenant })))).toEqual(refusal(why(unit)))
      expect(summary(await gate.evaluateAsync(ctx({ tenant })))).toEqual(refusal(why(unit)))
      expect(summary(gate.explain(ctx({ tenant })).verdict)).toEqual(refusal(why(unit)))
      expect(summary(gate.evaluate(ctx({ ...many, tenant })))).toEqual(refusal(why(unit)))
      expect(summary(await gate.evaluateAsync(ctx({ ...many, tenant })))).toEqual(refusal(why(unit)))
    }
    // U+FFFD itself is well-formed text: the policy written for it permits it.
    expect(gate.evaluate(ctx({ tenant: 'acme\ufffd' })).kind).toBe('permit')
    expect(gate.evaluate(ctx({ tenant: 'acme\ud83d\udd11' })).code).toBe('NO_POLICY_MATCH')
  })

  test('a param name with one refuses INVALID_CONTEXT naming it (U+FFFD in its place) and the index', async () => {
    const reason = "param name 'ten\ufffdant' has a lone surrogate (\\uDC00) at index 3: only well-formed strings are accepted"
    const params = { 'ten\udc00ant': 'acme\ufffd' }
    expect(summary(gate.evaluate(ctx(params)))).toEqual(refusal(reason))
    expect(summary(await gate.evaluateAsync(ctx(params)))).toEqual(refusal(reason))
    expect(summary(gate.explain(ctx(params)).verdict)).toEqual(refusal(reason))
    // The general path (more params than the fast path carries) reads names as strictly.
    expect(summary(gate.evaluate(ctx({ ...many, ...params })))).toEqual(refusal(reason))
    expect(summary(await gate.evaluateAsync(ctx({ ...many, ...params })))).toEqual(refusal(reason))
  })
})

describe('lone surrogates in the other compared strings of a context, and in policy text', () => {
  test('resource, ip and originIp with one are argument errors naming the field and the index', async () => {
    const gate = Gate.fromObject(POLICY)
    const base = { principalId: 'u1', principalKind: 'user' as const, actionName: 'read' }
    expectLoneSurrogate(caught(() => gate.evaluate({ ...base, resource: 'doc\ud800' })), 'resource', 'D800', 3)
    expectLoneSurrogate(await rejection(gate.evaluateAsync({ ...base, ip: '10.0.0.1\udfff' })), 'ip', 'DFFF', 8)
    expectLoneSurrogate(caught(() => gate.explain({ ...base, originIp: '\udc00' })), 'originIp', 'DC00', 0)
    expect(gate.evaluate({ ...base, resource: 'doc\ud83d\udd11' }).kind).toBe('permit')
  })

  test('a device hash with one is an argument error: two fingerprints never compare as one', async () => {
    const gate = Gate.fromObject(POLICY)
    const base = { principalId: 'u1', principalKind: 'user' as const, actionName: 'read', sessionId: 'device-s' }
    expectLoneSurrogate(caught(() => gate.evaluate({ ...base, device: { hash: 'dev\ud800' } })), 'device.hash', 'D800', 3)
    expectLoneSurrogate(await rejection(gate.evaluateAsync({ ...base, originDevice: { hash: 'dev\udfff' } })), 'originDevice.hash', 'DFFF', 3)
    // Well-formed fingerprints that differ are a device change, as before.
    expect(gate.evaluate({ ...base, device: { hash: 'dev\ud83d\udd11' } }).kind).toBe('permit')
    expect(gate.evaluate({ ...base, device: { hash: 'dev\ufffd' } }).kind).toBe('invalidate')
  })

  test('a policy document given as a string with one is refused before loading, naming the call and the index', () => {
    const toml = '[[policies]]\nname = "p"\neffect = "permit"\nconditions = [{ action = "pay\ud800" }]\n'
    expectLoneSurrogate(caught(() => Gate.fromToml(toml)), 'Gate.fromToml: toml', 'D800', toml.indexOf('\ud800'))
    const json = JSON.stringify({ policies: [{ name: 'p', effect: 'permit', conditions: [{ action: 'pay' }] }] }).replace('pay', 'pay\udfff')
    expectLoneSurrogate(caught(() => Gate.fromJsonString(json)), 'Gate.fromJsonString: json', 'DFFF', json.indexOf('\udfff'))
    const gate = Gate.fromObject(POLICY)
    expectLoneSurrogate(caught(() => gate.reload(toml)), 'gate.reload: toml', 'D800', toml.indexOf('\ud800'))
    expectLoneSurrogate(caught(() => gate.reloadJson(json)), 'gate.reloadJson: json', 'DFFF', json.indexOf('\udfff'))
    // The set in force is the one before.
    expect(gate.evaluate({ principalId: 'u1', principalKind: 'user', actionName: 'anything' }).kind).toBe('permit')
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
    expect(dir.keyIds).toEqual(['kavach-key-\ufffd'])
    expect(dir.fetch('kavach-key-\ufffd').id).toBe('kavach-key-\ufffd')
  })
})
