// Post-quantum identity under hostile conditions: an audit file rewritten to PQ-only, expired
// keys (signing, auditing, channels built while the key was valid), a receiver clock that
// steps back, respelled token ids, and megabyte inputs echoed in errors.
import { createHash } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import {
  AlgorithmMismatchError,
  AuditEntry,
  Checkpoint,
  DirectoryTokenVerifier,
  Gate,
  InvalidArgumentError,
  KavachKeyPair,
  KeyExpiredError,
  PqTokenSigner,
  PublicKeyDirectory,
  ReplayError,
  SecureChannel,
  SignatureInvalidError,
  SignedAuditChain,
} from '../index'
import { errorOf } from './fixtures/errors'

const dir = mkdtempSync(join(tmpdir(), 'kavach-pq-hostile-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

interface Payload {
  data: number[]
  ml_dsa_signature: number[]
  ed25519_signature: number[] | null
  nonce: string
  signed_at: string
}
interface Line {
  index: number
  previous_hash: string
  signed_payload: Payload
  entry_hash: string
}

/** FORMATS.md `ts`: `signed_at` with `+00:00` and the shortest exact 0/3/6/9 digits. */
function ts(z: string): string {
  const m = /^(.*?)(?:\.(\d+))?Z$/.exec(z)!
  const f = (m[2] ?? '').replace(/0+$/, '')
  if (f === '') return `${m[1]}+00:00`
  const len = f.length <= 3 ? 3 : f.length <= 6 ? 6 : 9
  return `${m[1]}.${f.padEnd(len, '0')}+00:00`
}

function entryHash(index: number, prev: string, p: Payload): string {
  const idx = Buffer.alloc(8)
  idx.writeBigUInt64LE(BigInt(index))
  const h = createHash('sha256').update(idx).update(prev).update(Buffer.from(p.data)).update(Buffer.from(p.ml_dsa_signature))
  if (p.ed25519_signature !== null) h.update(Buffer.from(p.ed25519_signature))
  return h.update(p.nonce).update(ts(p.signed_at)).digest('hex')
}

/** What an attacker who can only write the file does: null every Ed25519 signature, relink. */
function stripEd25519(jsonl: string): string {
  let prev = 'genesis'
  const lines = jsonl.split('\n').filter((l) => l !== '').map((l, i) => {
    const e = JSON.parse(l) as Line
    e.signed_payload.ed25519_signature = null
    e.previous_hash = prev
    e.entry_hash = entryHash(i, prev, e.signed_payload)
    prev = e.entry_hash
    return JSON.stringify(e)
  })
  return `${lines.join('\n')}\n`
}

const entry = (i: number): AuditEntry => AuditEntry.new(`agent-${i}`, 'issue_refund', 'permit', `d${i}`)
const permitAll = { policies: [{ name: 'p', effect: 'permit' as const, conditions: [{ action: 'refund' }] }] }

describe('audit chain downgrade: the mode comes from the key, never from the file', () => {
  const kp = KavachKeyPair.generate()
  const bundle = kp.publicKeys()

  it('a hybrid chain stripped to PQ-only is refused by verifyJsonl in the default mode', () => {
    const chain = new SignedAuditChain(kp)
    for (let i = 0; i < 3; i++) chain.append(entry(i))
    const stripped = stripEd25519(chain.exportJsonl().toString('utf8'))
    // Consistent forgery: only the mode can refuse it (a caller asking for PQ-only accepts it).
    expect(SignedAuditChain.verifyJsonl(stripped, bundle, { hybrid: false })).toBe(3)
    for (const call of [
      () => SignedAuditChain.verifyJsonl(stripped, bundle),
      () => SignedAuditChain.verifyJsonl(Buffer.from(stripped), bundle, {}),
      () => SignedAuditChain.verifyJsonl(stripped, bundle, true),
    ]) {
      const err = errorOf(call)
      expect(err).toBeInstanceOf(AlgorithmMismatchError)
      expect(err.message).toMatch(/entry 0: pq-only chain refused by a hybrid verifier/)
    }
  })

  it('openFile of a stripped file (no hybrid option) is refused and appends nothing', () => {
    const path = join(dir, 'stripped.jsonl')
    const c = SignedAuditChain.openFile(path, kp)
    c.appendBatch([entry(0), entry(1), entry(2)])
    expect(c.isHybrid).toBe(true)
    c.close()
    const stripped = stripEd25519(readFileSync(path, 'utf8'))
    writeFileSync(path, stripped)
    for (const opts of [undefined, { syncEvery: 1 }]) {
      const err = errorOf(() => SignedAuditChain.openFile(path, kp, opts))
      expect(err.code).toBe('ALGORITHM_MISMATCH')
      expect(err.message).toMatch(/entry 0/)
    }
    expect(readFileSync(path, 'utf8')).toBe(stripped)
  })

  it('a PQ-only file is reopened only by asking for PQ-only, and stays PQ-only', () => {
    const path = join(dir, 'pq-only.jsonl')
    const c = SignedAuditChain.openFile(path, kp, { hybrid: false })
    c.append(entry(0))
    c.close()
    const err = errorOf(() => SignedAuditChain.openFile(path, kp))
    expect(err.code).toBe('ALGORITHM_MISMATCH')
    expect(err.message).toMatch(/hybrid: false/)
    const again = SignedAuditChain.openFile(path, kp, { hybrid: false })
    expect(again.isHybrid).toBe(false)
    again.append(entry(1))
    again.close()
    const lines = readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Line)
    expect(lines.map((l) => l.signed_payload.ed25519_signature)).toEqual([null, null])
  })

  it('a hybrid checkpoint relabelled ml-dsa-65 without its Ed25519 signature is refused', () => {
    const chain = new SignedAuditChain(kp)
    chain.append(entry(0))
    const cp = chain.checkpoint()
    const forged = JSON.parse(cp.toJSON()) as Record<string, unknown>
    forged.algorithm = 'ml-dsa-65'
    forged.ed25519_signature = null
    const stripped = Checkpoint.fromJSON(JSON.stringify(forged))
    const blob = chain.exportJsonl()
    expect(SignedAuditChain.verifyJsonl(blob, bundle, { checkpoint: cp })).toBe(1)
    const err = errorOf(() => SignedAuditChain.verifyJsonl(blob, bundle, { checkpoint: stripped }))
    expect(err).toBeInstanceOf(AlgorithmMismatchError)
    expect(err.message).toMatch(/pq-only checkpoint refused by a hybrid verifier/)
  })
})

describe('expired keys sign nothing and are trusted for nothing', () => {
  // One real expiry for the whole block: a key pair valid for 1 s, and channels (and a
  // message) made while it was valid.
  let expired: KavachKeyPair
  let other: KavachKeyPair
  let toExpired: SecureChannel
  let fromExpired: SecureChannel
  let sentWhileValid: Buffer
  beforeAll(async () => {
    expired = KavachKeyPair.generateWithExpiry(1)
    other = KavachKeyPair.generate()
    toExpired = new SecureChannel(other, expired.publicKeys())
    fromExpired = new SecureChannel(expired, other.publicKeys())
    sentWhileValid = fromExpired.sendSigned(Buffer.from('signed while valid'), 'ctx', 'corr')
    const until = expired.expiresAt! * 1000 + 50
    await new Promise((r) => setTimeout(r, Math.max(0, until - Date.now())))
    expect(expired.isExpired).toBe(true)
  })

  it('a gate whose signer key expired refuses IDENTITY_FAILED and signs nothing', () => {
    for (const signer of [PqTokenSigner.fromKeypairHybrid(expired), PqTokenSigner.fromKeypairPqOnly(expired)]) {
      const gate = Gate.fromObject(permitAll, { tokenSigner: signer, enableDrift: false })
      const v = gate.evaluate({ principalId: 'a', principalKind: 'agent', actionName: 'refund' })
      expect(v.kind).toBe('refuse')
      expect(v.code).toBe('IDENTITY_FAILED')
      expect(v.reason).toMatch(/permit signing failed: keypair expired/)
      expect(v.signature).toBeUndefined()
      const token = { tokenId: '11111111-1111-4111-8111-111111111111', evaluationId: '22222222-2222-4222-8222-222222222222', issuedAt: 1, expiresAt: 2, actionName: 'refund' }
      const err = errorOf(() => signer.sign(token))
      expect(err).toBeInstanceOf(KeyExpiredError)
      expect(err.message).toContain(expired.id)
    }
  })

  it('audit appends, batches and checkpoints with an expired key pair throw KEY_EXPIRED; a gate withholds the permit', () => {
    for (const hybrid of [true, false]) {
      const chain = new SignedAuditChain(expired, hybrid)
      for (const call of [() => chain.append(entry(0)), () => chain.appendBatch([entry(0), entry(1)]), () => chain.checkpoint()]) {
        const err = errorOf(call)
        expect(err).toBeInstanceOf(KeyExpiredError)
        expect(err.message).toMatch(/expired/)
      }
      expect(chain.length).toBe(0)
      const gate = Gate.fromObject(permitAll, { audit: chain, enableDrift: false })
      const v = gate.evaluate({ principalId: 'a', principalKind: 'agent', actionName: 'refund' })
      expect(v.isPermit).toBe(false)
      expect(v.code).toBe('AUDIT_FAILED')
      expect(v.reason).toMatch(/keypair expired/)
    }
    const file = join(dir, 'expired.jsonl')
    const onDisk = SignedAuditChain.openFile(file, expired)
    expect(errorOf(() => onDisk.append(entry(0))).code).toBe('KEY_EXPIRED')
    onDisk.close()
    expect(readFileSync(file, 'utf8')).toBe('')
    expect(errorOf(() => expired.buildSignedManifest([other.publicKeys()])).code).toBe('KEY_EXPIRED')
  })

  it('a channel built while the remote key was valid refuses its messages once it expires', () => {
    const err = errorOf(() => toExpired.receiveSigned(sentWhileValid, 'ctx'))
    expect(err).toBeInstanceOf(KeyExpiredError)
    expect(err.message).toContain(expired.id)
    for (const call of [
      () => toExpired.sendSigned(Buffer.from('x'), 'ctx', 'c'),
      () => toExpired.sendData(Buffer.from('x')),
      () => fromExpired.sendSigned(Buffer.from('x'), 'ctx', 'c'),
      () => new SecureChannel(other, expired.publicKeys()),
      () => new SecureChannel(expired, other.publicKeys()),
    ]) {
      expect(errorOf(call).code).toBe('KEY_EXPIRED')
    }
  })
})

describe('replay guard across a receiver clock step back', () => {
  it('a message replayed after the clock stepped back is still refused', () => {
    const a = KavachKeyPair.generate()
    const b = KavachKeyPair.generate()
    const ab = new SecureChannel(a, b.publicKeys())
    const ba = new SecureChannel(b, a.publicKeys())
    const t = Date.now()
    ab.setClockForTesting(t)
    ba.setClockForTesting(t)
    const m = ab.sendSigned(Buffer.from('transfer 100'), 'ctx', 'corr')
    expect(ba.receiveSigned(m, 'ctx').toString()).toBe('transfer 100')
    expect(errorOf(() => ba.receiveSigned(m, 'ctx'))).toBeInstanceOf(ReplayError)
    ba.setClockForTesting(t + 301_000)
    expect(errorOf(() => ba.receiveSigned(m, 'ctx'))).toBeInstanceOf(ReplayError)
    expect(ba.trackedNonces).toBe(0)
    ba.setClockForTesting(t + 5_000)
    const err = errorOf(() => ba.receiveSigned(m, 'ctx'))
    expect(err).toBeInstanceOf(ReplayError)
    expect(err.message).toMatch(/older than the replay window/)
    // Fresh messages inside the window of the latest reading still pass, once.
    ab.setClockForTesting(t + 10_000)
    const fresh = ab.sendSigned(Buffer.from('transfer 7'), 'ctx', 'corr')
    expect(ba.receiveSigned(fresh, 'ctx').toString()).toBe('transfer 7')
    expect(errorOf(() => ba.receiveSigned(fresh, 'ctx'))).toBeInstanceOf(ReplayError)
  })
})

describe('token ids have one spelling', () => {
  it('a permit verifies for the canonical ids only, so a set of used token ids cannot be bypassed by respelling', () => {
    const kp = KavachKeyPair.generate()
    const gate = Gate.fromObject(permitAll, { tokenSigner: PqTokenSigner.fromKeypairHybrid(kp), enableDrift: false })
    const v = gate.evaluate({ principalId: 'u', principalKind: 'user', actionName: 'refund' })
    const t = v.permitToken!
    const id = t.tokenId
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/)
    const verifier = new DirectoryTokenVerifier(PublicKeyDirectory.inMemory([kp.publicKeys()]))
    verifier.verify(t, v.signature!)
    const respellings: Array<(u: string) => string> = [
      (u) => u.toUpperCase(),
      (u) => `{${u}}`,
      (u) => `urn:uuid:${u}`,
      (u) => u.replace(/-/g, ''),
      (u) => u.replace(/-/g, '').toUpperCase(),
    ]
    for (const respell of respellings) {
      for (const token of [{ ...t, tokenId: respell(t.tokenId) }, { ...t, evaluationId: respell(t.evaluationId) }]) {
        const err = errorOf(() => verifier.verify(token, v.signature!))
        expect(err).toBeInstanceOf(InvalidArgumentError)
        expect(err.message).toMatch(/(tokenId|evaluationId) '.*' is not in canonical form/)
        expect(errorOf(() => PqTokenSigner.fromKeypairHybrid(kp).sign(token)).code).toBe('INVALID_ARGUMENT')
      }
    }
  })
})

describe('the nonce fixes where the signed data ends (data ‖ nonce ‖ ts has no separator)', () => {
  /** Moves `k` bytes from the end of `data` into the nonce (k < 0: from the nonce into data): same signed bytes. */
  function shift(p: Payload, k: number): void {
    if (k > 0) {
      p.nonce = Buffer.from(p.data.splice(p.data.length - k)).toString() + p.nonce
    } else {
      p.data.push(...Buffer.from(p.nonce.slice(0, -k)))
      p.nonce = p.nonce.slice(-k)
    }
  }

  it('an audit entry edited by moving bytes between data and nonce is refused, checkpoint or not', () => {
    const kp = KavachKeyPair.generate()
    const chain = new SignedAuditChain(kp)
    chain.append(AuditEntry.new('alice', 'refund', 'permit', 'ok'))
    const checkpoint = chain.checkpoint()
    chain.append(AuditEntry.new('mallory', 'wire_money', 'refuse', '[POLICY_DENIED] no'))
    const jsonl = chain.exportJsonl().toString()
    expect(SignedAuditChain.verifyJsonl(jsonl, kp.publicKeys())).toBe(2)
    for (const k of [1, 30, -1, -36]) {
      let prev = 'genesis'
      const forged = jsonl.split('\n').filter((l) => l !== '').map((l, i) => {
        const e = JSON.parse(l) as Line
        if (i === 1) shift(e.signed_payload, k)
        e.previous_hash = prev
        e.entry_hash = entryHash(i, prev, e.signed_payload)
        prev = e.entry_hash
        return JSON.stringify(e)
      })
      const text = `${forged.join('\n')}\n`
      for (const verify of [() => SignedAuditChain.verifyJsonl(text, kp.publicKeys()), () => SignedAuditChain.verifyJsonl(text, kp.publicKeys(), { checkpoint })]) {
        const err = errorOf(verify)
        expect(err.code, `shift ${k}`).toBe('CHAIN_INVALID')
        expect(err.message).toMatch(/entry 1: .*nonce '.*' is not a lowercase hyphenated UUID v4/)
      }
    }
  })

  it('a channel message re-sealed with bytes moved from its nonce into its data is not a fresh message', () => {
    const [alice, bob, eve] = [KavachKeyPair.generate(), KavachKeyPair.generate(), KavachKeyPair.generate()]
    const toBob = new SecureChannel(alice, bob.publicKeys())
    const bobFromAlice = new SecureChannel(bob, alice.publicKeys())
    const sealed = toBob.sendSigned(Buffer.from('refund ORD-1 amount=100'), 'ctx-42', 'corr-1')
    expect(bobFromAlice.receiveSigned(sealed, 'ctx-42').toString()).toBe('refund ORD-1 amount=100')
    expect(errorOf(() => bobFromAlice.receiveSigned(sealed, 'ctx-42'))).toBeInstanceOf(ReplayError)
    // The recipient (or anyone with the plaintext) re-seals it: sealing to Bob needs no secret.
    const plain = JSON.parse(new SecureChannel(bob, alice.publicKeys()).receiveData(sealed).toString()) as { signed_payload: Payload }
    const outer = JSON.parse(sealed.toString()) as { payload_id: string }
    for (const k of [-1, -2, -36]) {
      const m = structuredClone(plain)
      shift(m.signed_payload, k)
      const resealed = JSON.parse(new SecureChannel(eve, bob.publicKeys()).sendData(Buffer.from(JSON.stringify(m))).toString()) as { payload_id: string }
      resealed.payload_id = outer.payload_id
      const err = errorOf(() => bobFromAlice.receiveSigned(Buffer.from(JSON.stringify(resealed)), 'ctx-42'))
      expect(err, `shift ${k}`).toBeInstanceOf(SignatureInvalidError)
      expect(err.message).toMatch(/is not a lowercase hyphenated UUID v4/)
    }
  })
})

describe('errors quote at most ~100 characters of a value', () => {
  const big = 'A'.repeat(1_000_000)
  const short = (call: () => unknown, code: string): void => {
    const err = errorOf(call)
    expect(err.code).toBe(code)
    expect(err.message.length).toBeLessThan(600)
    expect(err.message).toContain('(1000000 characters)')
  }

  it('CONTEXT_MISMATCH, KEY_NOT_FOUND and a bad tokenId stay short', () => {
    const a = KavachKeyPair.generate()
    const b = KavachKeyPair.generate()
    const m = new SecureChannel(a, b.publicKeys()).sendSigned(Buffer.from('x'), big, 'r')
    short(() => new SecureChannel(b, a.publicKeys()).receiveSigned(m, 'other'), 'CONTEXT_MISMATCH')
    short(() => PublicKeyDirectory.inMemory([]).fetch(big), 'KEY_NOT_FOUND')
    const token = { tokenId: big, evaluationId: '22222222-2222-4222-8222-222222222222', issuedAt: 1, expiresAt: 2, actionName: 'x' }
    short(() => PqTokenSigner.generateHybrid().sign(token), 'INVALID_ARGUMENT')
  })
})

describe('manifest parse errors are cut like every parser message', () => {
  it('an unknown key of a million characters is not quoted whole, signed or not', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kavach-manifest-'))
    try {
      const kp = KavachKeyPair.generate()
      const bundle = { ...(JSON.parse(kp.publicKeys().toJSON()) as Record<string, unknown>), ['k'.repeat(1_000_000)]: 1 }
      const unsigned = join(dir, 'unsigned.json')
      writeFileSync(unsigned, JSON.stringify([bundle]))
      const signed = join(dir, 'signed.json')
      writeFileSync(signed, JSON.stringify({ bundles_json: '[]', signature: [], ['s'.repeat(1_000_000)]: 1 }))
      for (const call of [() => PublicKeyDirectory.fromFile(unsigned), () => PublicKeyDirectory.fromSignedFile(signed, kp.publicKeys().mlDsaVerifyingKey)]) {
        const err = errorOf(call)
        expect(err.code).toBe('MANIFEST_INVALID')
        expect(err.message).toMatch(/unknown field/)
        expect(err.message.length).toBeLessThan(1000)
      }
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
