// Signed audit chain: interop fixtures, hash recomputation written independently with
// node:crypto, tamper matrix, checkpoints against delete/reorder/truncate, gate integration.
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'

import {
  AuditEntry,
  ChainInvalidError,
  Checkpoint,
  Gate,
  KavachKeyPair,
  PublicKeyBundle,
  SignedAuditChain,
} from '../index'
import { errorOf } from './fixtures/errors'

const repoRoot = path.resolve(__dirname, '..')
const interopDir = path.resolve(repoRoot, 'crates/kavach-pq/tests/data/interop')
const interop = (name: string): Buffer => readFileSync(path.join(interopDir, name))
const expected = JSON.parse(interop('expected.json').toString('utf8')) as Record<string, string | number>
const signerBundle = PublicKeyBundle.fromJSON(interop('bundle.json'))

interface SignedPayloadJson {
  data: number[]
  ml_dsa_signature: number[]
  ed25519_signature: number[] | null
  key_id: string
  signed_at: string
  nonce: string
}
interface EntryJson {
  index: number
  previous_hash: string
  signed_payload: SignedPayloadJson
  entry_hash: string
}

const linesOf = (blob: Buffer): string[] => blob.toString('utf8').split('\n').filter((l) => l.trim() !== '')
const parse = (l: string): EntryJson => JSON.parse(l) as EntryJson
const join = (ls: string[]): Buffer => Buffer.from(ls.map((l) => `${l}\n`).join(''), 'utf8')

/** FORMATS.md: `ts` is `signed_at` with `+00:00` instead of `Z` (same fractional digits). */
const tsOf = (signedAt: string): string => {
  expect(signedAt.endsWith('Z')).toBe(true)
  return `${signedAt.slice(0, -1)}+00:00`
}

/** entry_hash = hex(SHA-256(index u64 LE ‖ previous_hash ‖ data ‖ ml_dsa ‖ ed25519? ‖ nonce ‖ ts)). */
function entryHash(index: number, previousHash: string, p: SignedPayloadJson): string {
  const idx = Buffer.alloc(8)
  idx.writeBigUInt64LE(BigInt(index))
  const h = createHash('sha256')
  h.update(idx)
  h.update(previousHash, 'utf8')
  h.update(Buffer.from(p.data))
  h.update(Buffer.from(p.ml_dsa_signature))
  if (p.ed25519_signature !== null) h.update(Buffer.from(p.ed25519_signature))
  h.update(p.nonce, 'utf8')
  h.update(tsOf(p.signed_at), 'utf8')
  return h.digest('hex')
}

/** What an attacker without the key can do: renumber and recompute every hash. */
function relink(entries: EntryJson[]): string[] {
  let prev = 'genesis'
  return entries.map((e, i) => {
    const out: EntryJson = {
      index: i,
      previous_hash: prev,
      signed_payload: e.signed_payload,
      entry_hash: entryHash(i, prev, e.signed_payload),
    }
    prev = out.entry_hash
    return JSON.stringify(out)
  })
}

const kp = KavachKeyPair.generate()
const bundle = kp.publicKeys()

function chainOf(n: number, hybrid = true): SignedAuditChain {
  const c = new SignedAuditChain(kp, hybrid)
  for (let i = 0; i < n; i++) {
    c.append(AuditEntry.new(`agent-${i}`, 'issue_refund', 'permit', `token_id=t${i}`, { sessionId: 's-1' }))
  }
  return c
}

describe('interop fixtures', () => {
  for (const [file, headKey, hybrid] of [
    ['audit-hybrid.jsonl', 'auditHybridHead', true],
    ['audit-pq-only.jsonl', 'auditPqOnlyHead', false],
  ] as const) {
    it(`${file} verifies in its mode and ends at the expected head`, () => {
      const blob = interop(file)
      expect(SignedAuditChain.verifyJsonl(blob, signerBundle, hybrid)).toBe(expected.auditLength)
      // No mode given: the bundle's (hybrid), never the file's.
      if (hybrid) expect(SignedAuditChain.verifyJsonl(blob, signerBundle)).toBe(3)
      else expect(errorOf(() => SignedAuditChain.verifyJsonl(blob, signerBundle)).code).toBe('ALGORITHM_MISMATCH')
      expect(SignedAuditChain.verifyJsonl(blob.toString('utf8'), signerBundle, { hybrid })).toBe(3)
      const entries = linesOf(blob).map(parse)
      // Independent recomputation of every hash and link with node:crypto.
      let prev = 'genesis'
      for (const [i, e] of entries.entries()) {
        expect(e.index).toBe(i)
        expect(e.previous_hash).toBe(prev)
        expect(entryHash(i, prev, e.signed_payload)).toBe(e.entry_hash)
        expect(e.signed_payload.ed25519_signature !== null).toBe(hybrid)
        prev = e.entry_hash
      }
      expect(prev).toBe(expected[headKey])
      // Timestamps use 0, 3 and 9 fractional digits; ts keeps them exactly.
      expect(entries.map((e) => tsOf(e.signed_payload.signed_at))).toEqual([
        '2026-01-01T00:00:00+00:00',
        '2026-01-01T00:00:01.120+00:00',
        '2026-01-01T00:00:02.123456789+00:00',
      ])
      // The other mode, explicitly: refused before any cryptography, naming entry 0 and hybrid.
      const err = errorOf(() => SignedAuditChain.verifyJsonl(blob, signerBundle, !hybrid))
      expect(err.code).toBe('ALGORITHM_MISMATCH')
      expect(err.message).toMatch(/entry 0/)
      expect(err.message).toMatch(/hybrid/)
    })
  }

  it('pins the interop heads and the data JSON of entry 0', () => {
    expect(expected.auditHybridHead).toBe('b0dbbaf681f17db167b608c50c3c57179cc99860c6351c89352eb1e50c4408e6')
    expect(expected.auditPqOnlyHead).toBe('f2e77ccf1f289aeacb9cc5540301506dd46834e913b4cec2c767442544aded40')
    const e0 = parse(linesOf(interop('audit-hybrid.jsonl'))[0]!)
    expect(Buffer.from(e0.signed_payload.data).toString('utf8')).toBe(
      '{"id":"33333333-3333-4333-8333-333333333330","evaluation_id":"44444444-4444-4444-8444-444444444440",' +
        '"timestamp":"2026-01-01T00:00:00Z","principal_id":"agent-0","action_name":"issue_refund","resource":null,' +
        '"verdict":"permit","verdict_detail":"token_id=abc","decided_by":null,' +
        '"session_id":"55555555-5555-4555-8555-555555555550","ip":null,"context_snapshot":null}',
    )
  })
})

describe('chains written here', () => {
  it('builds entries with the FORMATS.md data JSON and refuses unknown verdicts', () => {
    const e = AuditEntry.new('agent-1', 'issue_refund', 'refuse', '[POLICY_DENIED] no', {
      resource: 'order:1',
      decidedBy: 'policy',
      ip: '10.0.0.1',
      evaluationId: 'ev-1',
      sessionId: 's-1',
    })
    const data = JSON.parse(e.toJSON()) as Record<string, unknown>
    expect(Object.keys(data)).toEqual([
      'id', 'evaluation_id', 'timestamp', 'principal_id', 'action_name', 'resource',
      'verdict', 'verdict_detail', 'decided_by', 'session_id', 'ip', 'context_snapshot',
    ])
    expect(data).toMatchObject({ evaluation_id: 'ev-1', resource: 'order:1', verdict: 'refuse', ip: '10.0.0.1' })
    expect(data.context_snapshot).toBeNull()
    const err = errorOf(() => AuditEntry.new('p', 'a', 'allow', 'x'))
    expect(err.code).toBe('INVALID_ARGUMENT')
    expect(err.message).toMatch(/'allow'/)
  })

  it('refuses an entry over 1 MiB, naming its largest field, and appends one just under it', () => {
    const chain = chainOf(0)
    const err = errorOf(() => AuditEntry.new('agent-1', 'issue_refund', 'refuse', 'x'.repeat(2 ** 20 + 1)))
    expect(err.code).toBe('INVALID_ARGUMENT')
    expect(err.message).toBe("invalid argument: audit entry too large: detail is 1048577 bytes; an entry's fields may total at most 1048576 bytes")
    const resource = errorOf(() => AuditEntry.new('agent-1', 'issue_refund', 'refuse', 'd', { resource: 'r'.repeat(2 ** 20) }))
    expect(resource.message).toMatch(/audit entry too large: resource is 1048576 bytes/)
    // The fixed fields (a 36-byte id, the principal and the action) count too.
    const detail = 'y'.repeat(2 ** 20 - 36 - 'agent-1'.length - 'issue_refund'.length)
    expect(chain.append(AuditEntry.new('agent-1', 'issue_refund', 'refuse', detail))).toBe(1)
    expect(chain.verify(bundle)).toBe(1)
    expect(errorOf(() => AuditEntry.new('agent-1', 'issue_refund', 'refuse', `${detail}y`)).code).toBe('INVALID_ARGUMENT')
  })

  it('empty chain: genesis head, verifies, blank lines ignored', () => {
    const c = new SignedAuditChain(kp)
    expect(c.isEmpty).toBe(true)
    expect(c.length).toBe(0)
    expect(c.headHash).toBe('genesis')
    expect(c.isHybrid).toBe(true)
    expect(c.verify(bundle)).toBe(0)
    expect(SignedAuditChain.verifyJsonl(Buffer.alloc(0), bundle)).toBe(0)
    expect(SignedAuditChain.verifyJsonl('\n  \n\n', bundle, true)).toBe(0)
  })

  for (const hybrid of [true, false]) {
    it(`${hybrid ? 'hybrid' : 'pq-only'} chain: hashes recompute independently, verify and export`, () => {
      const c = chainOf(4, hybrid)
      expect(c.length).toBe(4)
      expect(c.isHybrid).toBe(hybrid)
      const blob = c.exportJsonl()
      expect(blob.toString('utf8').endsWith('\n')).toBe(true)
      let prev = 'genesis'
      for (const [i, e] of linesOf(blob).map(parse).entries()) {
        expect(Object.keys(e)).toEqual(['index', 'previous_hash', 'signed_payload', 'entry_hash'])
        expect(Object.keys(e.signed_payload)).toEqual(['data', 'ml_dsa_signature', 'ed25519_signature', 'key_id', 'signed_at', 'nonce'])
        expect(e.signed_payload.ml_dsa_signature).toHaveLength(3309)
        expect(e.signed_payload.ed25519_signature?.length ?? null).toBe(hybrid ? 64 : null)
        expect(e.signed_payload.key_id).toBe(kp.id)
        expect(entryHash(i, prev, e.signed_payload)).toBe(e.entry_hash)
        prev = e.entry_hash
      }
      expect(c.headHash).toBe(prev)
      expect(c.verify(bundle)).toBe(4)
      // The chain's own mode, named: a PQ-only chain is never accepted by default.
      expect(SignedAuditChain.verifyJsonl(blob, bundle, { hybrid })).toBe(4)
      if (!hybrid) expect(errorOf(() => SignedAuditChain.verifyJsonl(blob, bundle)).code).toBe('ALGORITHM_MISMATCH')
      // Blank lines between entries are ignored.
      expect(SignedAuditChain.verifyJsonl(`\n${linesOf(blob).join('\n\n')}\n`, bundle, hybrid)).toBe(4)
      // Wrong verifying key.
      const other = KavachKeyPair.generate().publicKeys()
      const err = errorOf(() => SignedAuditChain.verifyJsonl(blob, other, hybrid))
      expect(err.message).toMatch(/entry 0/)
    })
  }
})

describe('tamper matrix', () => {
  const good = linesOf(chainOf(5).exportJsonl())
  const mutate = (i: number, f: (e: EntryJson) => void): Buffer => {
    const ls = [...good]
    const e = parse(ls[i]!)
    f(e)
    ls[i] = JSON.stringify(e)
    return join(ls)
  }
  const cases: Array<[string, () => Buffer, number, RegExp]> = [
    ['data', () => mutate(2, (e) => { e.signed_payload.data[5] ^= 1 }), 2, /entry hash/],
    ['data with the hash recomputed', () => mutate(2, (e) => {
      e.signed_payload.data[5] ^= 1
      e.entry_hash = entryHash(e.index, e.previous_hash, e.signed_payload)
    }), 2, /signature verification failed/],
    ['ML-DSA signature', () => mutate(1, (e) => { e.signed_payload.ml_dsa_signature[100] ^= 1 }), 1, /entry hash/],
    ['Ed25519 signature with the hash recomputed', () => mutate(3, (e) => {
      e.signed_payload.ed25519_signature![0] ^= 1
      e.entry_hash = entryHash(e.index, e.previous_hash, e.signed_payload)
    }), 3, /signature verification failed/],
    ['entry hash', () => mutate(3, (e) => { e.entry_hash = 'f'.repeat(64) }), 3, /entry hash/],
    ['index', () => mutate(2, (e) => { e.index = 9 }), 2, /index/],
    ['key id', () => mutate(4, (e) => { e.signed_payload.key_id = 'kavach-key-someone-else' }), 4, /key id/],
    ['drop a line', () => join(good.filter((_, i) => i !== 2)), 2, /index/],
    ['reorder two lines', () => join([good[0]!, good[2]!, good[1]!, good[3]!, good[4]!]), 1, /index/],
    ['splice a line from another chain', () => {
      const other = linesOf(chainOf(5).exportJsonl())
      return join([good[0]!, good[1]!, good[2]!, other[3]!, good[4]!])
    }, 3, /previous hash/],
    ['mix a pq-only entry into a hybrid chain', () => {
      const pq = linesOf(chainOf(3, false).exportJsonl()).map(parse)
      const entries = good.map(parse)
      entries[2] = pq[2]!
      return join(relink(entries))
    }, 2, /splice/],
  ]
  for (const [name, blob, n, what] of cases) {
    it(`rejects: ${name} (entry ${n})`, () => {
      const err = errorOf(() => SignedAuditChain.verifyJsonl(blob(), bundle))
      expect(err.message).toMatch(new RegExp(`entry ${n}\\b`))
      expect(err.message).toMatch(what)
    })
  }
  it('the untouched chain verifies', () => {
    expect(SignedAuditChain.verifyJsonl(join(good), bundle)).toBe(5)
  })
})

describe('checkpoints', () => {
  const chain = chainOf(6)
  const cp = chain.checkpoint()
  const good = linesOf(chain.exportJsonl()).map(parse)

  it('is signed, round-trips through JSON and accepts the chain and its growth', () => {
    expect(cp).toBeInstanceOf(Checkpoint)
    expect(cp.length).toBe(6)
    expect(cp.headHash).toBe(chain.headHash)
    expect(cp.keyId).toBe(kp.id)
    expect(cp.algorithm).toBe('ml-dsa-65+ed25519')
    const again = Checkpoint.fromJSON(cp.toJSON())
    expect(SignedAuditChain.verifyJsonl(join(good.map((e) => JSON.stringify(e))), bundle, { checkpoint: again })).toBe(6)
    const longer = chainOf(0)
    expect(longer.length).toBe(0)
    chain.append(AuditEntry.new('agent-6', 'issue_refund', 'permit', 'token_id=t6'))
    expect(SignedAuditChain.verifyJsonl(chain.exportJsonl(), bundle, { hybrid: true, checkpoint: cp })).toBe(7)
  })

  const attacks: Array<[string, EntryJson[]]> = [
    ['delete-and-relink', good.filter((_, i) => i !== 2)],
    ['reorder-and-relink', [good[0]!, good[4]!, good[2]!, good[3]!, good[1]!, good[5]!]],
    ['truncate', good.slice(0, 4)],
  ]
  for (const [name, entries] of attacks) {
    it(`catches ${name}, which the shared format alone cannot`, () => {
      const blob = join(relink(entries))
      // Signatures cover only each payload and the links are unkeyed: this verifies.
      expect(SignedAuditChain.verifyJsonl(blob, bundle)).toBe(entries.length)
      const err = errorOf(() => SignedAuditChain.verifyJsonl(blob, bundle, { checkpoint: cp }))
      expect(err).toBeInstanceOf(ChainInvalidError)
      expect(err.message).toMatch(/entry \d+/)
      expect(err.message).toMatch(/checkpoint/)
    })
  }

  it('a forged checkpoint does not verify', () => {
    const forged = JSON.parse(cp.toJSON()) as { length: number }
    forged.length = 3
    const err = errorOf(() =>
      SignedAuditChain.verifyJsonl(join(good.map((e) => JSON.stringify(e))), bundle, {
        checkpoint: Checkpoint.fromJSON(JSON.stringify(forged)),
      }),
    )
    expect(err.code).toBe('SIGNATURE_INVALID')
  })
})

describe('gate integration', () => {
  it('appends every verdict the gate returns, observe-only ones marked', () => {
    const chain = new SignedAuditChain(kp)
    const policy = {
      policies: [
        { name: 'refunds', effect: 'permit' as const, conditions: [{ identity_kind: 'agent' as const }, { action: 'issue_refund' }] },
      ],
    }
    const gate = Gate.fromObject(policy, { audit: chain })
    const permit = gate.evaluate({ principalId: 'bot', principalKind: 'agent', actionName: 'issue_refund' })
    const refuse = gate.evaluate({ principalId: 'bot', principalKind: 'agent', actionName: 'delete_db' })
    expect(permit.isPermit).toBe(true)
    expect(refuse.isRefuse).toBe(true)
    expect(chain.length).toBe(2)
    const data = linesOf(chain.exportJsonl()).map((l) => JSON.parse(Buffer.from(parse(l).signed_payload.data).toString('utf8')) as Record<string, string>)
    expect(data[0]).toMatchObject({ principal_id: 'bot', action_name: 'issue_refund', verdict: 'permit' })
    expect(data[0]!.verdict_detail).toContain(permit.tokenId!)
    expect(data[1]).toMatchObject({ action_name: 'delete_db', verdict: 'refuse' })
    expect(data[1]!.verdict_detail).toMatch(/^\[NO_POLICY_MATCH\]/)

    const observed = new SignedAuditChain(kp, false)
    const watch = Gate.fromObject(policy, { audit: observed, observeOnly: true })
    watch.evaluate({ principalId: 'bot', principalKind: 'agent', actionName: 'delete_db' })
    const o = JSON.parse(Buffer.from(parse(linesOf(observed.exportJsonl())[0]!).signed_payload.data).toString('utf8')) as Record<string, unknown>
    expect(o.verdict).toBe('refuse')
    expect(o.verdict_detail).toMatch(/^observed: /)
    expect(o.context_snapshot).toEqual({ observed: true })
    expect(observed.verify(bundle)).toBe(1)
  })
})
