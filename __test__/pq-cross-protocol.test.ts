// One key pair may sign permits, an audit chain and channel messages (the examples use one).
// The signed bytes of a permit (`ids ‖ times ‖ action`) and of a signed payload
// (`data ‖ nonce ‖ ts`) carry no label saying which they are, so each verifier checks that what
// it accepts has its own shape: an audit entry's data is an audit entry, a permit's ids are
// random UUIDs and its action has no control characters, a v1 channel message is neither a
// permit's bytes nor an audit entry. Also: the shared formats are JSON objects, never arrays of
// their fields, and a bundle's keys must be usable when the bundle is loaded.

import { createHash, randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { describe, expect, test } from 'vitest'

import {
  AuditEntry,
  Checkpoint,
  DirectoryTokenVerifier,
  Gate,
  KavachKeyPair,
  PqTokenSigner,
  PublicKeyBundle,
  PublicKeyDirectory,
  SecureChannel,
  SignedAuditChain,
} from '../index'

const uuidBytes = (u: string) => Buffer.from(u.replace(/-/g, ''), 'hex')
const i64 = (n: number) => {
  const b = Buffer.alloc(8)
  b.writeBigInt64LE(BigInt(n))
  return b
}

/** A second-precision time as a payload's `signed_at` and as the `ts` its signature covers. */
function signedNow(): { signedAt: string; ts: string } {
  const now = new Date()
  now.setUTCMilliseconds(0)
  const signedAt = now.toISOString().replace('.000Z', 'Z')
  return { signedAt, ts: signedAt.replace('Z', '+00:00') }
}

/**
 * A permit the gate signs for an action the caller picked to end in `nonce ‖ ts`, cut into a
 * signed payload: its data is the permit's signed bytes up to that tail.
 */
function permitAsSignedPayload(gateKp: KavachKeyPair, actionPrefix = 'report.x') {
  const gate = Gate.fromObject(
    { policies: [{ name: 'reports', effect: 'permit', conditions: [{ action: 'report.*' }] }, { name: 'anything', effect: 'permit', conditions: [{ action: '*' }] }] },
    { tokenSigner: PqTokenSigner.fromKeypairHybrid(gateKp), enableDrift: false },
  )
  const nonce = randomUUID()
  const { signedAt, ts } = signedNow()
  const v = gate.evaluate({ principalId: 'mallory', principalKind: 'agent', actionName: `${actionPrefix}${nonce}${ts}` })
  expect(v.isPermit).toBe(true)
  const t = v.permitToken!
  const env = JSON.parse(v.signature!.toString()) as { ml_dsa_signature: number[]; ed25519_signature: number[]; key_id: string }
  const canonical = Buffer.concat([uuidBytes(t.tokenId), uuidBytes(t.evaluationId), i64(t.issuedAt), i64(t.expiresAt), Buffer.from(t.actionName)])
  const data = canonical.subarray(0, canonical.length - Buffer.byteLength(nonce + ts))
  const payload = { data: [...data], ml_dsa_signature: env.ml_dsa_signature, ed25519_signature: env.ed25519_signature, key_id: env.key_id, signed_at: signedAt, nonce }
  return { payload, ts }
}

/** A one-entry chain line around `payload`, hashed as FORMATS.md says (the hash has no key). */
function chainLine(payload: ReturnType<typeof permitAsSignedPayload>['payload'], ts: string): Buffer {
  const h = createHash('sha256')
  for (const part of [Buffer.alloc(8), 'genesis', Buffer.from(payload.data), Buffer.from(payload.ml_dsa_signature), Buffer.from(payload.ed25519_signature), payload.nonce, ts]) h.update(part)
  return Buffer.from(JSON.stringify({ index: 0, previous_hash: 'genesis', signed_payload: payload, entry_hash: h.digest('hex') }) + '\n')
}

describe('a signature made for one format does not verify as another', () => {
  test('a permit is not an audit entry: the chain verifier refuses data that is no audit entry', () => {
    const kp = KavachKeyPair.generate()
    const { payload, ts } = permitAsSignedPayload(kp)
    expect(() => SignedAuditChain.verifyJsonl(chainLine(payload, ts), kp.publicKeys())).toThrow(
      expect.objectContaining({ code: 'CHAIN_INVALID', message: expect.stringMatching(/^audit chain invalid: entry 0: its data is not an audit entry \(/) }),
    )
  })

  // An action of exactly `nonce ‖ ts` leaves the permit's 48 bytes of ids and times as data.
  test.each([['report.x'], ['']])("a permit is not a v1 channel message, even to a receiver that accepts v1 (action prefix '%s')", (actionPrefix) => {
    const gateKp = KavachKeyPair.generate()
    const bob = KavachKeyPair.generate()
    const { payload } = permitAsSignedPayload(gateKp, actionPrefix)
    const forged = { signed_payload: payload, context_id: 'payments', correlation_id: 'c1' }
    // Anyone can encrypt to Bob; the signature is what claims the gate sent it.
    const sealed = new SecureChannel(KavachKeyPair.generate(), bob.publicKeys()).sendData(Buffer.from(JSON.stringify(forged)))
    expect(() => new SecureChannel(bob, gateKp.publicKeys(), { acceptV1: true }).receiveSigned(sealed, 'payments')).toThrow(
      expect.objectContaining({ code: 'SIGNATURE_INVALID', message: expect.stringMatching(/shape of a permit token's signed bytes/) }),
    )
  })

  test("an audit line's payload is not a v1 channel message", () => {
    const kp = KavachKeyPair.generate()
    const bob = KavachKeyPair.generate()
    const chain = new SignedAuditChain(kp)
    chain.append(AuditEntry.new('alice', 'export', 'permit', 'ok'))
    const line = JSON.parse(chain.exportJsonl().toString()) as { signed_payload: unknown }
    const forged = { signed_payload: line.signed_payload, context_id: 'payments', correlation_id: 'c1' }
    const sealed = new SecureChannel(KavachKeyPair.generate(), bob.publicKeys()).sendData(Buffer.from(JSON.stringify(forged)))
    expect(() => new SecureChannel(bob, kp.publicKeys(), { acceptV1: true }).receiveSigned(sealed, 'payments')).toThrow(
      expect.objectContaining({ code: 'SIGNATURE_INVALID', message: expect.stringMatching(/its data is an audit entry/) }),
    )
  })

  test('a v2 channel signature is not a permit: an action with control characters is refused', () => {
    const alice = KavachKeyPair.generate()
    const bob = KavachKeyPair.generate()
    const now = Math.floor(Date.now() / 1000)
    const ids = ['11111111-1111-4111-8111-111111111111', '22222222-2222-4222-8222-222222222222'] as const
    // Bytes Alice relays for someone: laid out as a permit's ids and times.
    const data = Buffer.concat([uuidBytes(ids[0]), uuidBytes(ids[1]), i64(now), i64(now + 30), Buffer.from('issue_refund')])
    const sealed = new SecureChannel(alice, bob.publicKeys()).sendSigned(data, 'ctx', 'corr')
    const p = (JSON.parse(new SecureChannel(bob, alice.publicKeys()).receiveData(sealed).toString()) as { signed_payload: { ml_dsa_signature: number[]; ed25519_signature: number[]; nonce: string; signed_at: string } }).signed_payload
    const s = JSON.parse(sealed.toString()) as { recipient_key_id: string; payload_id: string }
    const lp = (x: string) => {
      const l = Buffer.alloc(4)
      l.writeUInt32LE(Buffer.byteLength(x))
      return Buffer.concat([l, Buffer.from(x)])
    }
    const tail = Buffer.concat([Buffer.from(`issue_refund${p.nonce}${p.signed_at.replace('Z', '+00:00')}\0kavach-channel-v2\0`), lp('ctx'), lp('corr'), lp(s.recipient_key_id), lp(s.payload_id)])
    const token = { tokenId: ids[0], evaluationId: ids[1], issuedAt: now, expiresAt: now + 30, actionName: tail.toString('utf8') }
    const env = Buffer.from(JSON.stringify({ key_id: alice.id, algorithm: 'ml-dsa-65+ed25519', ml_dsa_signature: p.ml_dsa_signature, ed25519_signature: p.ed25519_signature }))
    expect(() => new DirectoryTokenVerifier(PublicKeyDirectory.inMemory([alice.publicKeys()])).verify(token, env)).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/^invalid argument: actionName '.*' contains the control character \\u\{0\} at character \d+: the gate signs no such action name$/) }),
    )
  })

  test('token ids must be random (version 4) UUIDs, as the gate issues', () => {
    const kp = KavachKeyPair.generate()
    const signer = PqTokenSigner.fromKeypairHybrid(kp)
    const good = { tokenId: '11111111-1111-4111-8111-111111111111', evaluationId: '22222222-2222-4222-8222-222222222222', issuedAt: 1, expiresAt: 2, actionName: 'a' }
    const env = signer.sign(good)
    expect(() => signer.verify(good, env)).not.toThrow()
    for (const [field, id] of [['tokenId', '11111111-1111-1111-8111-111111111111'], ['evaluationId', '22222222-2222-4222-2222-222222222222']] as const) {
      expect(() => signer.verify({ ...good, [field]: id }, env)).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT', message: `invalid argument: ${field} '${id}' is not a random (version 4) UUID, and the gate issues no other` }),
      )
    }
  })
})

describe('the shared formats are JSON objects, not arrays of their fields', () => {
  const kp = KavachKeyPair.generate()
  const values = (json: string) => Object.values(JSON.parse(json) as Record<string, unknown>)

  test('envelope, bundle, audit line (and its payload), checkpoint and sealed message', () => {
    const signer = PqTokenSigner.fromKeypairHybrid(kp)
    const token = { tokenId: '11111111-1111-4111-8111-111111111111', evaluationId: '22222222-2222-4222-8222-222222222222', issuedAt: 1, expiresAt: 2, actionName: 'a' }
    const envelope = signer.sign(token)
    const verifier = new DirectoryTokenVerifier(PublicKeyDirectory.inMemory([kp.publicKeys()]))
    expect(() => verifier.verify(token, Buffer.from(JSON.stringify(values(envelope.toString()))))).toThrow(expect.objectContaining({ code: 'FORMAT_INVALID', message: expect.stringMatching(/expected a JSON object/) }))
    expect(() => PublicKeyBundle.fromJSON(JSON.stringify(values(kp.publicKeys().toJSON())))).toThrow(expect.objectContaining({ code: 'FORMAT_INVALID', message: expect.stringMatching(/expected a JSON object/) }))

    const chain = new SignedAuditChain(kp)
    chain.append(AuditEntry.new('alice', 'export', 'permit', 'ok'))
    const line = JSON.parse(chain.exportJsonl().toString()) as { index: number; previous_hash: string; signed_payload: Record<string, unknown>; entry_hash: string }
    expect(SignedAuditChain.verifyJsonl(chain.exportJsonl(), kp.publicKeys())).toBe(1)
    const asArray = [line.index, line.previous_hash, line.signed_payload, line.entry_hash]
    const payloadAsArray = { ...line, signed_payload: Object.values(line.signed_payload) }
    for (const rewritten of [asArray, payloadAsArray]) {
      expect(() => SignedAuditChain.verifyJsonl(Buffer.from(JSON.stringify(rewritten) + '\n'), kp.publicKeys())).toThrow(
        expect.objectContaining({ code: 'CHAIN_INVALID', message: expect.stringMatching(/^audit chain invalid: entry 0: malformed line: .*expected a JSON object/) }),
      )
    }
    expect(() => Checkpoint.fromJSON(JSON.stringify(values(chain.checkpoint().toJSON())))).toThrow(expect.objectContaining({ code: 'FORMAT_INVALID', message: expect.stringMatching(/expected a JSON object/) }))

    const bob = KavachKeyPair.generate()
    const sealed = new SecureChannel(kp, bob.publicKeys()).sendSigned(Buffer.from('hi'), 'c', 'r')
    const receiver = new SecureChannel(bob, kp.publicKeys())
    expect(() => receiver.receiveSigned(Buffer.from(JSON.stringify(values(sealed.toString()))), 'c')).toThrow(expect.objectContaining({ code: 'FORMAT_INVALID' }))
    expect(receiver.receiveSigned(sealed, 'c').toString()).toBe('hi')
  })

  test('manifests: bundles and the signed wrapper', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kavach-arrays-'))
    try {
      const unsigned = join(dir, 'unsigned.json')
      writeFileSync(unsigned, JSON.stringify([values(kp.publicKeys().toJSON())]))
      expect(() => PublicKeyDirectory.fromFile(unsigned)).toThrow(expect.objectContaining({ code: 'MANIFEST_INVALID', message: expect.stringMatching(/expected a JSON object/) }))
      const m = JSON.parse(kp.buildSignedManifest([kp.publicKeys()]).toString()) as { bundles_json: string; signature: number[] }
      const signed = join(dir, 'signed.json')
      writeFileSync(signed, JSON.stringify([m.bundles_json, m.signature]))
      expect(() => PublicKeyDirectory.fromSignedFile(signed, kp.publicKeys().mlDsaVerifyingKey)).toThrow(expect.objectContaining({ code: 'MANIFEST_INVALID', message: expect.stringMatching(/expected a JSON object/) }))
      writeFileSync(signed, JSON.stringify(m))
      expect(PublicKeyDirectory.fromSignedFile(signed, kp.publicKeys().mlDsaVerifyingKey).keyIds).toEqual([kp.id])
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('a bundle whose keys cannot be used is refused when it is loaded', () => {
  const kp = KavachKeyPair.generate()
  const json = JSON.parse(kp.publicKeys().toJSON()) as Record<string, unknown>
  const bundleWith = (field: string, bytes: number[]) => JSON.stringify({ ...json, [field]: bytes })
  // y = p + 3 (p = 2^255 - 19): reduced, y = 3 is a point of large order, but these bytes are
  // not its canonical spelling (that is y = 3 itself).
  const nonCanonicalEd = [0xf0, ...Array(30).fill(0xff), 0x7f]
  const cases: [string, string, number[], RegExp][] = [
    ['an Ed25519 key that is no point', 'ed25519_verifying_key', Array(32).fill(0xff), /ed25519_verifying_key: Ed25519 verifying key (is not a valid point|is not in canonical encoding)/],
    ['an Ed25519 key of small order (the identity)', 'ed25519_verifying_key', [1, ...Array(31).fill(0)], /ed25519_verifying_key: Ed25519 verifying key has small order/],
    ['an Ed25519 key in non-canonical encoding', 'ed25519_verifying_key', nonCanonicalEd, /ed25519_verifying_key: Ed25519 verifying key is not in canonical encoding/],
    ['an all-zero X25519 key', 'x25519_public_key', Array(32).fill(0), /x25519_public_key: X25519 public key has low order/],
    ['an ML-KEM key failing the modulus check', 'ml_kem_encapsulation_key', Array(1184).fill(0xff), /ml_kem_encapsulation_key: ML-KEM-768 encapsulation key fails the modulus check/],
  ]
  test.each(cases)('%s', (_label, field, bytes, message) => {
    expect(() => PublicKeyBundle.fromJSON(bundleWith(field, bytes))).toThrow(
      expect.objectContaining({ code: 'INVALID_KEY', message: expect.stringMatching(new RegExp(`^invalid key: bundle '${kp.id}': ${message.source}`)) }),
    )
  })

  test('the real keys load, and the Ed25519 check holds for signers built from bytes too', () => {
    expect(PublicKeyBundle.fromJSON(kp.publicKeys().toJSON()).id).toBe(kp.id)
    const pk = kp.publicKeys()
    expect(() => PqTokenSigner.hybrid(Buffer.alloc(0), pk.mlDsaVerifyingKey, Buffer.alloc(0), Buffer.alloc(32, 0xff), kp.id)).toThrow(expect.objectContaining({ code: 'INVALID_KEY' }))
  })
})
