// What the package writes and reads stays within what its own formats can carry: an audit file
// holding one endless line (a sparse hole) is refused in bounded memory instead of aborting the
// process; bundle and key-pair times stay within RFC 3339's years 0000-9999 (an expiry past
// 9999 from an earlier release reads as its last second); a manifest the
// loaders refuse is never signed or built; a malformed permit envelope is FORMAT_INVALID; an
// open file chain is held to its own head hash.
import { createHash } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, test } from 'vitest'

import {
  AuditEntry,
  ChainInvalidError,
  DirectoryTokenVerifier,
  FormatInvalidError,
  InvalidArgumentError,
  KavachKeyPair,
  ManifestInvalidError,
  PqTokenSigner,
  PublicKeyBundle,
  PublicKeyDirectory,
  SignedAuditChain,
} from '../index'
import { AUDIT_MAX_LINE_BYTES } from '../src/generated/layout'
import { errorOf } from './fixtures/errors'

const dir = mkdtempSync(join(tmpdir(), 'kavach-artifact-bounds-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** crates/kavach-pq MAX_LINE_BYTES (generated): the longest line a chain writer produces. */
const MAX_LINE_BYTES = AUDIT_MAX_LINE_BYTES
/** A hole ten times the line bound: 256 MiB of apparent size, no disk blocks, no `\n`. */
const HOLE = 256 * 2 ** 20

describe('an audit file with one endless line', () => {
  test('verify and exportJsonl of the open chain refuse it naming the entry; reopening refuses it too and leaves the file as it is', () => {
    const path = join(dir, 'endless.jsonl')
    const kp = KavachKeyPair.generate()
    const chain = SignedAuditChain.openFile(path, kp)
    chain.append(AuditEntry.new('alice', 'read', 'permit', 'ok'))
    const goodEnd = statSync(path).size
    truncateSync(path, goodEnd + HOLE)

    const overTheBound = `audit chain invalid: entry 1: line over ${MAX_LINE_BYTES} bytes`
    for (const read of [() => chain.verify(kp.publicKeys()), () => chain.exportJsonl()]) {
      const e = errorOf(read)
      expect(e).toBeInstanceOf(ChainInvalidError)
      expect(e.message).toBe(overTheBound)
    }
    chain.close()

    // No writer produces a line this long, so unterminated it is no torn write to truncate.
    const e = errorOf(() => SignedAuditChain.openFile(path, kp))
    expect(e).toBeInstanceOf(ChainInvalidError)
    expect(e.message).toBe(overTheBound)
    expect(statSync(path).size).toBe(goodEnd + HOLE)
  })
})

describe('times beyond what RFC 3339 carries', () => {
  test('generateWithExpiry past year 9999 is refused naming the bound, for any whole number of seconds', () => {
    for (const seconds of [3_000_000 * 86_400, 2 ** 53 - 1, 9.1e15]) {
      const e = errorOf(() => KavachKeyPair.generateWithExpiry(seconds))
      expect(e).toBeInstanceOf(InvalidArgumentError)
      expect(e.message).toBe(`invalid argument: an expiry ${BigInt(seconds)} s from now is past 9999-12-31T23:59:59Z (unix seconds 253402300799), the latest time RFC 3339 can write`)
    }
    expect(errorOf(() => KavachKeyPair.generateWithExpiry(-1)).message).toMatch(/seconds must be a non-negative integer, got -1/)
    const lastYear = KavachKeyPair.generateWithExpiry(253_402_300_799 - Math.ceil(Date.now() / 1000) - 3600)
    const json = lastYear.publicKeys().toJSON()
    expect(json).toMatch(/"expires_at":"9999-12-31T/)
    expect(PublicKeyBundle.fromJSON(json).toJSON()).toBe(json)
  })

  test('fromRecord refuses a time outside years 0000-9999, reads an expiry past 9999 as its last second; an absent expiresAt is no expiry', () => {
    const record = KavachKeyPair.generate().publicKeys().toRecord()
    for (const [field, value] of [['createdAt', -1e11], ['createdAt', 253_402_300_800], ['expiresAt', -1e11]] as const) {
      const e = errorOf(() => PublicKeyBundle.fromRecord({ ...record, [field]: value }))
      expect(e).toBeInstanceOf(InvalidArgumentError)
      expect(e.message).toBe(`${field} ${value} is outside unix seconds -62167219200 to 253402300799 (the years 0000 to 9999, the times RFC 3339 can write)`)
    }
    // Records of earlier releases hold such expiries for keys meant never to expire.
    const never = PublicKeyBundle.fromRecord({ ...record, expiresAt: record.createdAt + 1e12 })
    expect([never.expiresAt, JSON.parse(never.toJSON()).expires_at]).toEqual([253_402_300_799, '9999-12-31T23:59:59Z'])
    const earliest = PublicKeyBundle.fromRecord({ ...record, createdAt: -62_167_219_200 })
    expect(PublicKeyBundle.fromJSON(earliest.toJSON()).createdAt).toBe(-62_167_219_200)
    const noExpiry = PublicKeyBundle.fromRecord({ ...record, expiresAt: undefined })
    expect([noExpiry.expiresAt, noExpiry.toRecord().expiresAt]).toEqual([null, undefined])
  })
})

test('an export of an earlier release with an expiry past year 9999 imports, expiring at its last second, and its key signs', () => {
  const kp = KavachKeyPair.generateWithExpiry(3600)
  // Plaintext export: header (6) | id_len u16 | id | created_at i64 + u32 | has_expiry u8 |
  // expires_at i64 + u32 | seeds, then SHA-256 of all before it. An earlier release wrote
  // created_at + 1e12 s here for generateWithExpiry(1e12).
  const old = Buffer.from(kp.exportSecret())
  const createdAt = 6 + 2 + old.readUInt16LE(6)
  old.writeBigInt64LE(old.readBigInt64LE(createdAt) + 1_000_000_000_000n, createdAt + 12 + 1)
  createHash('sha256').update(old.subarray(0, old.length - 32)).digest().copy(old, old.length - 32)

  const back = KavachKeyPair.importSecret(old)
  expect([back.id, back.createdAt, back.expiresAt, back.isExpired]).toEqual([kp.id, kp.createdAt, 253_402_300_799, false])
  const signer = PqTokenSigner.fromKeypairHybrid(back)
  const now = Math.floor(Date.now() / 1000)
  const token = { tokenId: '11111111-1111-4111-8111-111111111111', evaluationId: '22222222-2222-4222-8222-222222222222', issuedAt: now, expiresAt: now + 30, actionName: 'read' }
  const verifier = new DirectoryTokenVerifier(PublicKeyDirectory.inMemory([kp.publicKeys()]))
  expect(verifier.verify(token, signer.sign(token))).toBeUndefined()
})

test('a manifest listing one key id twice is neither signed nor built', () => {
  const root = KavachKeyPair.generate()
  const b = KavachKeyPair.generate().publicKeys()
  const duplicate = `invalid manifest: duplicate key id '${b.id}'`
  for (const build of [() => root.buildSignedManifest([b, b]), () => PublicKeyDirectory.buildUnsignedManifest([b, b])]) {
    const e = errorOf(build)
    expect(e).toBeInstanceOf(ManifestInvalidError)
    expect(e.message).toBe(duplicate)
  }
  const path = join(dir, 'one.json')
  writeFileSync(path, root.buildSignedManifest([b]))
  expect(PublicKeyDirectory.fromSignedFile(path, root.publicKeys().mlDsaVerifyingKey).keyIds).toEqual([b.id])
})

test('a malformed permit signature envelope is FORMAT_INVALID', () => {
  const kp = KavachKeyPair.generate()
  const signer = PqTokenSigner.fromKeypairHybrid(kp)
  const now = Math.floor(Date.now() / 1000)
  const token = { tokenId: '11111111-1111-4111-8111-111111111111', evaluationId: '22222222-2222-4222-8222-222222222222', issuedAt: now, expiresAt: now + 30, actionName: 'read' }
  const verifier = new DirectoryTokenVerifier(PublicKeyDirectory.inMemory([kp.publicKeys()]))
  for (const bad of ['not json', '[1,2,3]', `${signer.sign(token).toString()}x`]) {
    for (const verify of [() => verifier.verify(token, Buffer.from(bad)), () => signer.verify(token, Buffer.from(bad))]) {
      const e = errorOf(verify)
      expect(e).toBeInstanceOf(FormatInvalidError)
      expect(e.message).toMatch(/^malformed data: malformed signature envelope: /)
    }
  }
})

test('verify of an open file chain refuses entries swapped and relinked', () => {
  const path = join(dir, 'relink.jsonl')
  const kp = KavachKeyPair.generate()
  const chain = SignedAuditChain.openFile(path, kp)
  chain.append(AuditEntry.new('alice', 'delete_db', 'refuse', '[POLICY_DENIED] no'))
  chain.append(AuditEntry.new('alice', 'delete_db', 'permit', 'tok-1'))
  const original = readFileSync(path)
  interface Line {
    index: number
    previous_hash: string
    signed_payload: { data: number[]; ml_dsa_signature: number[]; ed25519_signature: number[] | null; nonce: string; signed_at: string }
    entry_hash: string
  }
  const lines = original.toString('utf8').trim().split('\n').map((l) => JSON.parse(l) as Line)
  // FORMATS.md: the hashed time is signed_at with +00:00 and 0/3/6/9 fractional digits.
  const ts = (s: string): string => {
    const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?Z$/.exec(s)!
    const f = (m[2] ?? '').replace(/0+$/, '')
    const n = f.length === 0 ? 0 : f.length <= 3 ? 3 : f.length <= 6 ? 6 : 9
    return `${m[1]}${n ? `.${f.padEnd(n, '0')}` : ''}+00:00`
  }
  let previous = 'genesis'
  const swapped = [lines[1]!, lines[0]!].map((e, i) => {
    const p = e.signed_payload
    const index = Buffer.alloc(8)
    index.writeBigUInt64LE(BigInt(i))
    const h = createHash('sha256').update(index).update(previous).update(Buffer.from(p.data)).update(Buffer.from(p.ml_dsa_signature))
    if (p.ed25519_signature) h.update(Buffer.from(p.ed25519_signature))
    const relinked = { ...e, index: i, previous_hash: previous, entry_hash: h.update(p.nonce).update(ts(p.signed_at)).digest('hex') }
    previous = relinked.entry_hash
    return JSON.stringify(relinked)
  })
  const relinked = Buffer.from(`${swapped.join('\n')}\n`)
  expect(SignedAuditChain.verifyJsonl(relinked, kp.publicKeys())).toBe(2)
  writeFileSync(path, relinked)
  const e = errorOf(() => chain.verify(kp.publicKeys()))
  expect(e).toBeInstanceOf(ChainInvalidError)
  expect(e.message).toBe(`audit chain invalid: entry 1: hash ${previous} is not the chain's head hash ${chain.headHash} (entries rewritten or reordered and relinked)`)
  writeFileSync(path, original)
  expect(chain.verify(kp.publicKeys())).toBe(2)
  chain.close()
})
