import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { inspect } from 'node:util'

import { afterAll, describe, expect, test } from 'vitest'

import {
  AlgorithmMismatchError,
  DirectoryTokenVerifier,
  Gate,
  InvalidArgumentError,
  InvalidKeyError,
  KavachError,
  KavachKeyPair,
  KeyExpiredError,
  KeyNotFoundError,
  ManifestInvalidError,
  PassphraseInvalidError,
  PqTokenSigner,
  PublicKeyBundle,
  PublicKeyDirectory,
  SignatureInvalidError,
  SigningFailedError,
  type PermitTokenInput,
} from '../index'
import { signingSetup, TOKEN } from './fixtures/pq-keys'

const tmp = mkdtempSync(join(tmpdir(), 'kavach-pq-identity-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))


function envelope(sig: Buffer): { key_id: string; algorithm: string; ml_dsa_signature: number[]; ed25519_signature?: number[] } {
  return JSON.parse(sig.toString('utf8'))
}

function expectThrow(fn: () => unknown, cls: new (...a: never[]) => KavachError, code: string, words: string): void {
  let err: unknown
  try {
    fn()
  } catch (e) {
    err = e
  }
  expect(err).toBeInstanceOf(cls)
  expect(err).toBeInstanceOf(KavachError)
  expect((err as KavachError).code).toBe(code)
  expect((err as Error).message).toContain(words)
}

describe('KavachKeyPair', () => {
  test('generates an identity with exact key sizes and no visible secrets', () => {
    const kp = KavachKeyPair.generate()
    expect(kp.id).toMatch(/^kavach-key-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    expect(kp.expiresAt).toBeNull()
    expect(kp.isExpired).toBe(false)
    expect(Math.abs(kp.createdAt - Date.now() / 1000)).toBeLessThan(60)
    const b = kp.publicKeys()
    expect(b.id).toBe(kp.id)
    expect(b.mlDsaVerifyingKey.length).toBe(1952)
    expect(b.mlKemEncapsulationKey.length).toBe(1184)
    expect(b.ed25519VerifyingKey.length).toBe(32)
    expect(b.x25519PublicKey.length).toBe(32)
    expect(Object.keys(kp)).toEqual([])
    expect(JSON.stringify(kp)).toBe('{}')
    expect(String(kp)).toBe(`KavachKeyPair { id: '${kp.id}' }`)
    expect(inspect(kp)).not.toMatch(/\d{2,}/)
  })

  test('generateWithExpiry sets expiresAt and isExpired', () => {
    const kp = KavachKeyPair.generateWithExpiry(3600)
    expect(kp.expiresAt! - kp.createdAt).toBeCloseTo(3600, 3)
    expect(kp.isExpired).toBe(false)
    expect(kp.publicKeys().expiresAt).toBeCloseTo(kp.expiresAt!, 3)
    expect(() => KavachKeyPair.generateWithExpiry(-1)).toThrow(KavachError)
  })

  test('exportSecret / importSecret restore the same identity', () => {
    const kp = KavachKeyPair.generateWithExpiry(86400)
    const signer = PqTokenSigner.fromKeypairHybrid(kp)
    const sig = signer.sign(TOKEN)
    for (const pass of [undefined, 'correct horse battery staple']) {
      const blob = kp.exportSecret(pass)
      expect(Buffer.isBuffer(blob)).toBe(true)
      const back = KavachKeyPair.importSecret(blob, pass)
      expect(back.id).toBe(kp.id)
      expect(back.createdAt).toBe(kp.createdAt)
      expect(back.expiresAt).toBe(kp.expiresAt)
      expect(back.publicKeys().toJSON()).toBe(kp.publicKeys().toJSON())
      const restored = PqTokenSigner.fromKeypairHybrid(back)
      restored.verify(TOKEN, sig)
      signer.verify(TOKEN, restored.sign(TOKEN))
    }
  })

  test('a wrong passphrase or a modified export is a clear error', () => {
    const kp = KavachKeyPair.generate()
    const blob = kp.exportSecret('pw-1')
    expectThrow(() => KavachKeyPair.importSecret(blob, 'pw-2'), PassphraseInvalidError, 'PASSPHRASE_INVALID', 'wrong passphrase')
    expectThrow(() => KavachKeyPair.importSecret(blob), PassphraseInvalidError, 'PASSPHRASE_INVALID', 'passphrase is required')
    const modified = Buffer.from(blob)
    modified[modified.length - 5] ^= 1
    expectThrow(() => KavachKeyPair.importSecret(modified, 'pw-1'), PassphraseInvalidError, 'PASSPHRASE_INVALID', 'modified')
    const plain = Buffer.from(kp.exportSecret())
    plain[40] ^= 1
    expect(() => KavachKeyPair.importSecret(plain)).toThrow(/modified/)
  })

  test('an export asking for more scrypt work than the caps is refused before any key derivation', () => {
    const blob = KavachKeyPair.generate().exportSecret('pw')
    // Header bytes 6 (log_n), 7..10 (r), 11..14 (p): log_n 19 would cost ~600 MiB of scrypt.
    const costly = Buffer.from(blob)
    costly[6] = 19
    expectThrow(() => KavachKeyPair.importSecret(costly, 'pw'), InvalidArgumentError, 'INVALID_ARGUMENT', 'log_n = 19')
    const wideP = Buffer.from(blob)
    wideP.writeUInt32LE(3, 11)
    expectThrow(() => KavachKeyPair.importSecret(wideP, 'pw'), InvalidArgumentError, 'INVALID_ARGUMENT', 'p = 3')
    // Caps are options; a genuine export within them imports.
    expect(KavachKeyPair.importSecret(blob, 'pw', { maxScryptLogN: 22, maxScryptR: 32, maxScryptP: 16 }).id).toBeTypeOf('string')
    expectThrow(() => KavachKeyPair.importSecret(blob, 'pw', { maxScryptLogN: 18.5 }), InvalidArgumentError, 'INVALID_ARGUMENT', 'maxScryptLogN')
  })
})

describe('PublicKeyBundle', () => {
  test('JSON and record round trips', () => {
    const b = KavachKeyPair.generateWithExpiry(60).publicKeys()
    const json = b.toJSON()
    expect(json.startsWith(`{"id":"${b.id}","ml_dsa_verifying_key":[`)).toBe(true)
    expect(json).toMatch(/"created_at":"[^"]+Z","expires_at":"[^"]+Z"}$/)
    expect(PublicKeyBundle.fromJSON(json).toJSON()).toBe(json)
    expect(PublicKeyBundle.fromJSON(Buffer.from(json)).toJSON()).toBe(json)
    const rec = b.toRecord()
    expect(rec.mlDsaVerifyingKey.equals(b.mlDsaVerifyingKey)).toBe(true)
    expect(PublicKeyBundle.fromRecord(rec).toJSON()).toBe(json)
  })

  test('bad key lengths are rejected', () => {
    const rec = KavachKeyPair.generate().publicKeys().toRecord()
    expectThrow(
      () => PublicKeyBundle.fromRecord({ ...rec, ed25519VerifyingKey: Buffer.alloc(31) }),
      InvalidKeyError,
      'INVALID_KEY',
      'ed25519_verifying_key must be 32 bytes, got 31',
    )
    expect(() => PublicKeyBundle.fromJSON('{"id":1}')).toThrow(KavachError)
  })
})

describe('PqTokenSigner', () => {
  test('hybrid and PQ-only sign and verify; envelopes carry the right fields', () => {
    for (const [signer, alg] of [
      [PqTokenSigner.generateHybrid(), 'ml-dsa-65+ed25519'],
      [PqTokenSigner.generatePqOnly(), 'ml-dsa-65'],
    ] as const) {
      const sig = signer.sign(TOKEN)
      signer.verify(TOKEN, sig)
      const env = envelope(sig)
      expect(env.key_id).toBe(signer.keyId)
      expect(env.algorithm).toBe(alg)
      expect(env.ml_dsa_signature.length).toBe(3309)
      expect(env.ed25519_signature?.length).toBe(signer.isHybrid ? 64 : undefined)
    }
  })

  test('tamper matrix: every token field and signature bytes', () => {
    const signer = PqTokenSigner.generateHybrid()
    const sig = signer.sign(TOKEN)
    const tampered: PermitTokenInput[] = [
      { ...TOKEN, tokenId: '11111111-1111-4111-8111-111111111112' },
      { ...TOKEN, evaluationId: '22222222-2222-4222-8222-222222222223' },
      { ...TOKEN, issuedAt: TOKEN.issuedAt + 1 },
      { ...TOKEN, expiresAt: TOKEN.expiresAt + 3600 },
      { ...TOKEN, actionName: 'issue_refunds' },
    ]
    for (const t of tampered) {
      expectThrow(() => signer.verify(t, sig), SignatureInvalidError, 'SIGNATURE_INVALID', 'signature verification failed')
    }
    // Neither sub-second precision nor `observeOnly` is signed: such inputs are refused, not
    // verified as the whole-second, non-observe token.
    expectThrow(() => signer.verify({ ...TOKEN, expiresAt: TOKEN.expiresAt + 0.999 }, sig), InvalidArgumentError, 'INVALID_ARGUMENT', 'expiresAt')
    expectThrow(() => signer.verify({ ...TOKEN, observeOnly: true }, sig), InvalidArgumentError, 'INVALID_ARGUMENT', 'observeOnly')
    for (const field of ['ml_dsa_signature', 'ed25519_signature'] as const) {
      for (const pos of [0, 20, 63]) {
        const env = envelope(sig)
        env[field]![pos] ^= 1
        expectThrow(
          () => signer.verify(TOKEN, Buffer.from(JSON.stringify(env))),
          SignatureInvalidError,
          'SIGNATURE_INVALID',
          'signature verification failed',
        )
      }
    }
  })

  test('downgrade defence both ways', () => {
    const { kp, hybrid, pqOnly: pq } = signingSetup()
    expect(hybrid.keyId).toBe(kp.id)
    expectThrow(() => hybrid.verify(TOKEN, pq.sign(TOKEN)), AlgorithmMismatchError, 'ALGORITHM_MISMATCH', 'hybrid')
    expectThrow(() => pq.verify(TOKEN, hybrid.sign(TOKEN)), AlgorithmMismatchError, 'ALGORITHM_MISMATCH', 'ml-dsa-65')
  })

  test('raw-byte constructors: lengths checked at construction, empty signing key = verifier only', () => {
    const b = KavachKeyPair.generate().publicKeys()
    expectThrow(() => PqTokenSigner.pqOnly(Buffer.alloc(31), b.mlDsaVerifyingKey, b.id), InvalidKeyError, 'INVALID_KEY', '32-byte seed')
    expectThrow(() => PqTokenSigner.pqOnly(Buffer.alloc(0), b.mlDsaVerifyingKey.subarray(1), b.id), InvalidKeyError, 'INVALID_KEY', '1952')
    expectThrow(
      () => PqTokenSigner.hybrid(Buffer.alloc(32), b.mlDsaVerifyingKey, Buffer.alloc(32), b.ed25519VerifyingKey, b.id),
      InvalidKeyError,
      'INVALID_KEY',
      'does not match',
    )
    const verifier = PqTokenSigner.hybridFromBytes(Buffer.alloc(0), b.mlDsaVerifyingKey, Buffer.alloc(0), b.ed25519VerifyingKey, b.id)
    expect(verifier.canSign).toBe(false)
    expectThrow(() => verifier.sign(TOKEN), SigningFailedError, 'SIGNING_FAILED', 'verifier only')
  })
})

describe('PublicKeyDirectory and DirectoryTokenVerifier', () => {
  test('in-memory directory: unknown key, insert, expiry, remove', () => {
    const kp = KavachKeyPair.generate()
    const signer = PqTokenSigner.fromKeypairHybrid(kp)
    const sig = signer.sign(TOKEN)
    const dir = PublicKeyDirectory.inMemory()
    const verifier = new DirectoryTokenVerifier(dir)
    expect(verifier.isHybrid).toBe(true)
    expectThrow(() => verifier.verify(TOKEN, sig), KeyNotFoundError, 'KEY_NOT_FOUND', 'public key not found')
    dir.insert(kp.publicKeys())
    expect(dir.length).toBe(1)
    verifier.verify(TOKEN, sig)
    expect(dir.fetch(kp.id).toJSON()).toBe(kp.publicKeys().toJSON())
    expectThrow(() => verifier.verify({ ...TOKEN, actionName: 'x' }, sig), SignatureInvalidError, 'SIGNATURE_INVALID', 'signature verification failed')
    expectThrow(() => new DirectoryTokenVerifier(dir, false).verify(TOKEN, sig), AlgorithmMismatchError, 'ALGORITHM_MISMATCH', 'hybrid')
    // An expired bundle under the same keys: KEY_EXPIRED naming the key, unless not enforced.
    const rec = kp.publicKeys().toRecord()
    expect(dir.remove(kp.id)).toBe(true)
    dir.insert(PublicKeyBundle.fromRecord({ ...rec, expiresAt: Date.now() / 1000 - 10 }))
    expectThrow(() => verifier.verify(TOKEN, sig), KeyExpiredError, 'KEY_EXPIRED', kp.id)
    expect(() => verifier.verify(TOKEN, sig)).toThrow(/expired/)
    verifier.verify(TOKEN, sig, false)
    expect(dir.remove(kp.id)).toBe(true)
    expect(dir.remove(kp.id)).toBe(false)
    expect(dir.length).toBe(0)
  })

  test('length, isEmpty and keyIds are properties: the key ids are an array, sorted, read fresh each time', () => {
    const [a, b] = [KavachKeyPair.generate(), KavachKeyPair.generate()]
    const dir = PublicKeyDirectory.inMemory([a.publicKeys()])
    expect(Array.isArray(dir.keyIds)).toBe(true)
    expect(dir.keyIds.includes(a.id)).toBe(true)
    expect(dir.keyIds.includes(b.id)).toBe(false)
    dir.insert(b.publicKeys())
    expect(dir.keyIds).toEqual([a.id, b.id].sort())
    expect([dir.length, dir.isEmpty]).toEqual([2, false])
    for (const name of ['length', 'isEmpty', 'keyIds']) {
      expect(Object.getOwnPropertyDescriptor(Object.getPrototypeOf(PublicKeyDirectory.prototype), name)?.get, name).toBeTypeOf('function')
    }
    const empty = PublicKeyDirectory.inMemory()
    expect([empty.keyIds, empty.length, empty.isEmpty]).toEqual([[], 0, true])
  })

  test('fromFile: reload re-reads, insert/remove throw, a failed reload keeps the bundles', () => {
    const [a, b] = [KavachKeyPair.generate(), KavachKeyPair.generate()]
    const path = join(tmp, 'keys.json')
    writeFileSync(path, PublicKeyDirectory.buildUnsignedManifest([a.publicKeys()]))
    const dir = PublicKeyDirectory.fromFile(path)
    expect(dir.keyIds).toEqual([a.id])
    expect(() => dir.insert(b.publicKeys())).toThrow(/cannot insert/)
    expect(() => dir.remove(a.id)).toThrow(/cannot remove/)
    writeFileSync(path, PublicKeyDirectory.buildUnsignedManifest([a.publicKeys(), b.publicKeys()]))
    expect(dir.reload()).toBe(2)
    writeFileSync(path, '[{"id":')
    expectThrow(() => dir.reload(), ManifestInvalidError, 'MANIFEST_INVALID', path)
    expect(dir.length).toBe(2)
    const v = new DirectoryTokenVerifier(dir, false)
    v.verify(TOKEN, PqTokenSigner.fromKeypairPqOnly(b).sign(TOKEN))
  })

  test('fromSignedFile: verified before use; wrong root or tampering rejected', () => {
    const root = KavachKeyPair.generate()
    const [a, b] = [KavachKeyPair.generate(), KavachKeyPair.generate()]
    const path = join(tmp, 'keys.signed.json')
    const manifest = root.buildSignedManifest([a.publicKeys()])
    writeFileSync(path, manifest)
    const dir = PublicKeyDirectory.fromSignedFile(path, root.publicKeys().mlDsaVerifyingKey)
    expect(dir.keyIds).toEqual([a.id])
    expectThrow(
      () => PublicKeyDirectory.fromSignedFile(path, b.publicKeys().mlDsaVerifyingKey),
      SignatureInvalidError,
      'SIGNATURE_INVALID',
      'signature verification failed',
    )
    writeFileSync(path, manifest.toString('utf8').replace(a.id, b.id))
    expectThrow(() => dir.reload(), SignatureInvalidError, 'SIGNATURE_INVALID', 'signature verification failed')
    expect(dir.keyIds).toEqual([a.id])
    writeFileSync(path, root.buildSignedManifest([a.publicKeys(), b.publicKeys()]))
    expect(dir.reload()).toBe(2)
  })
})

describe('Gate with tokenSigner', () => {
  const PERMIT_ALL = { policies: [{ name: 'all', effect: 'permit' as const, conditions: [] }] }
  const ctx = { principalId: 'agent-bot', principalKind: 'agent' as const, actionName: 'issue_refund', params: { amount: 10 } }

  test('every Permit is signed and verifies against a directory; a Refuse is not signed', () => {
    for (const signer of [PqTokenSigner.generateHybrid(), PqTokenSigner.generatePqOnly()]) {
      const gate = Gate.fromObject(PERMIT_ALL, { tokenSigner: signer, permitTtlSeconds: 60 })
      const verifier = PqTokenSigner.hybrid
      void verifier
      for (let i = 0; i < 3; i++) {
        const v = gate.evaluate(ctx)
        expect(v.isPermit).toBe(true)
        const t = v.permitToken!
        expect(Buffer.isBuffer(v.signature)).toBe(true)
        expect(t.signature!.equals(v.signature!)).toBe(true)
        expect(t.observeOnly).toBe(false)
        expect(t.expiresAt - t.issuedAt).toBe(60)
        signer.verify(t, v.signature!)
        expect(envelope(v.signature!).key_id).toBe(signer.keyId)
        expect(() => signer.verify({ ...t, actionName: 'delete_account' }, v.signature!)).toThrow(SignatureInvalidError)
      }
      const refused = Gate.fromObject({ policies: [] }, { tokenSigner: signer }).evaluate(ctx)
      expect(refused.isRefuse).toBe(true)
      expect(refused.signature).toBeUndefined()
    }
  })

  test('a signed permit verifies offline through a signed directory', async () => {
    const root = KavachKeyPair.generate()
    const kp = KavachKeyPair.generate()
    const path = join(tmp, 'gate-keys.signed.json')
    writeFileSync(path, root.buildSignedManifest([kp.publicKeys()]))
    const gate = Gate.fromObject(PERMIT_ALL, { tokenSigner: PqTokenSigner.fromKeypairHybrid(kp) })
    const v = await gate.evaluateAsync(ctx)
    const dir = PublicKeyDirectory.fromSignedFile(path, root.publicKeys().mlDsaVerifyingKey)
    new DirectoryTokenVerifier(dir, true).verify(v.permitToken!, v.signature!)
    expect(() => new DirectoryTokenVerifier(dir, false).verify(v.permitToken!, v.signature!)).toThrow(AlgorithmMismatchError)
  })

  test('observe-only permits are marked and not signed', () => {
    const gate = Gate.fromObject({ policies: [] }, { observeOnly: true, tokenSigner: PqTokenSigner.generateHybrid() })
    const v = gate.evaluate(ctx)
    expect(v.isPermit).toBe(true)
    expect(v.permitToken?.observeOnly).toBe(true)
    expect(v.signature).toBeUndefined()
    expect(v.permitToken?.signature).toBeUndefined()
  })

})
