// Interop fixtures of crates/kavach-pq/tests/data/interop, written by an independent implementation from fixed
// seeds: bundle, manifests (unsigned and root-signed), token canonical bytes and envelopes
// must all be read exactly as FORMATS.md says. (The audit JSONL fixtures are covered in
// audit.test.ts.)

import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import path from 'node:path'

import { describe, expect, test } from 'vitest'

import {
  AlgorithmMismatchError,
  DirectoryTokenVerifier,
  KavachKeyPair,
  PqTokenSigner,
  PublicKeyBundle,
  PublicKeyDirectory,
  SignatureInvalidError,
  type PermitTokenInput,
} from '../index'

const repoRoot = path.resolve(__dirname, '..')
const interopDir = path.resolve(repoRoot, 'crates/kavach-pq/tests/data/interop')
const fixture = (name: string): string => path.join(interopDir, name)
const read = (name: string): Buffer => readFileSync(fixture(name))

const SIGNER_ID = 'kavach-key-00000000-0000-4000-8000-000000000001'
const tokenJson = JSON.parse(read('token.json').toString('utf8')) as PermitTokenInput & { canonicalHex: string }
const TOKEN: PermitTokenInput = {
  tokenId: tokenJson.tokenId,
  evaluationId: tokenJson.evaluationId,
  issuedAt: tokenJson.issuedAt,
  expiresAt: tokenJson.expiresAt,
  actionName: tokenJson.actionName,
}
const envHybrid = read('envelope-hybrid.json')
const envPq = read('envelope-pq-only.json')
const rootVk = Buffer.from(read('root-ml-dsa-verifying-key.hex').toString('utf8').trim(), 'hex')

/**
 * A plaintext secret export (format v1, see docs/FORMATS.md) built by hand from the fixture seeds:
 * "KVSK" ‖ 1 ‖ 0 ‖ id_len u16 ‖ id ‖ created (i64 s, u32 ns) ‖ has_expiry ‖ expires (i64, u32)
 * ‖ ml-dsa seed ‖ ed25519 seed ‖ ml-kem seed ‖ x25519 secret ‖ SHA-256 of all that.
 */
function fixtureExport(): Buffer {
  const id = Buffer.from(SIGNER_ID)
  const idLen = Buffer.alloc(2)
  idLen.writeUInt16LE(id.length)
  const created = Buffer.alloc(12)
  created.writeBigInt64LE(BigInt(Date.UTC(2026, 0, 1) / 1000))
  const body = Buffer.concat([
    Buffer.from('KVSK'),
    Buffer.from([1, 0]),
    idLen,
    id,
    created,
    Buffer.from([0]),
    Buffer.alloc(12),
    Buffer.alloc(32, 0x10),
    Buffer.alloc(32, 0x11),
    Buffer.alloc(64, 0x12),
    Buffer.alloc(32, 0x13),
  ])
  return Buffer.concat([body, createHash('sha256').update(body).digest()])
}

describe('interop fixtures', () => {
  test('a key pair from the fixture seeds has exactly the fixture bundle', () => {
    const kp = KavachKeyPair.importSecret(fixtureExport())
    expect(kp.id).toBe(SIGNER_ID)
    expect(kp.publicKeys().toJSON()).toBe(read('bundle.json').toString('utf8').trimEnd())
    expect(PublicKeyBundle.fromJSON(read('bundle.json')).toJSON()).toBe(kp.publicKeys().toJSON())
  })

  test('manifest-unsigned.json loads with fromFile; manifest-signed.json with fromSignedFile and only the root key', () => {
    const unsigned = PublicKeyDirectory.fromFile(fixture('manifest-unsigned.json'))
    const signed = PublicKeyDirectory.fromSignedFile(fixture('manifest-signed.json'), rootVk)
    for (const dir of [unsigned, signed]) {
      expect(dir.length).toBe(1)
      expect(dir.fetch(SIGNER_ID).toJSON()).toBe(read('bundle.json').toString('utf8').trimEnd())
    }
    const signerVk = PublicKeyBundle.fromJSON(read('bundle.json')).mlDsaVerifyingKey
    for (const wrong of [signerVk, KavachKeyPair.generate().publicKeys().mlDsaVerifyingKey]) {
      expect(() => PublicKeyDirectory.fromSignedFile(fixture('manifest-signed.json'), wrong)).toThrow(SignatureInvalidError)
    }
    // Our manifest of the same bundle is byte-identical to the fixture.
    expect(PublicKeyDirectory.buildUnsignedManifest([unsigned.fetch(SIGNER_ID)]).toString('utf8')).toBe(
      read('manifest-unsigned.json').toString('utf8').trimEnd(),
    )
  })

  test('envelopes verify in their own mode over either directory, and nowhere else', () => {
    const dirs = [
      PublicKeyDirectory.fromFile(fixture('manifest-unsigned.json')),
      PublicKeyDirectory.fromSignedFile(fixture('manifest-signed.json'), rootVk),
    ]
    for (const dir of dirs) {
      const hybrid = new DirectoryTokenVerifier(dir, true)
      const pq = new DirectoryTokenVerifier(dir, false)
      hybrid.verify(TOKEN, envHybrid)
      pq.verify(TOKEN, envPq)
      expect(() => hybrid.verify(TOKEN, envPq)).toThrow(AlgorithmMismatchError)
      expect(() => pq.verify(TOKEN, envHybrid)).toThrow(AlgorithmMismatchError)
      for (const actionName of ['issue_refunds', 'ISSUE_REFUND', 'delete_account']) {
        expect(() => hybrid.verify({ ...TOKEN, actionName }, envHybrid)).toThrow(/signature verification failed/)
        expect(() => pq.verify({ ...TOKEN, actionName }, envPq)).toThrow(/signature verification failed/)
      }
      // No permit names an empty action: refused before any cryptography.
      expect(() => hybrid.verify({ ...TOKEN, actionName: '' }, envHybrid)).toThrow(/actionName must be a non-empty string/)
    }
  })

  test('a signer rebuilt from the seeds verifies both envelopes (each in its mode)', () => {
    const b = PublicKeyBundle.fromJSON(read('bundle.json'))
    const hybrid = PqTokenSigner.hybrid(Buffer.alloc(32, 0x10), b.mlDsaVerifyingKey, Buffer.alloc(32, 0x11), b.ed25519VerifyingKey, SIGNER_ID)
    const pq = PqTokenSigner.pqOnly(Buffer.alloc(32, 0x10), b.mlDsaVerifyingKey, SIGNER_ID)
    hybrid.verify(TOKEN, envHybrid)
    pq.verify(TOKEN, envPq)
    expect(() => hybrid.verify(TOKEN, envPq)).toThrow(AlgorithmMismatchError)
    // What it signs now verifies under the fixture directory.
    const dir = PublicKeyDirectory.fromSignedFile(fixture('manifest-signed.json'), rootVk)
    new DirectoryTokenVerifier(dir).verify(TOKEN, hybrid.sign(TOKEN))
    new DirectoryTokenVerifier(dir, false).verify(TOKEN, pq.sign(TOKEN))
  })
})
