// Audit chain and secure channel against what a user would write with the @noble
// libraries (bench/noble.ts): hybrid append (one entry per call, and the parallel group-commit
// `appendBatch` against the same 64 appends), a channel `sendSigned` + `receiveSigned` round
// trip, the two sides alternating in rounds (bench/rounds.ts); the durable file chain (`append`
// with an fsync each, `appendBatch` of 64 with one fsync; no peer) and `verifyJsonl` of 10,000
// entries (no peer). Issue targets: appendBatch to a file >= 5,000 entries/s, verifyJsonl of
// 10,000 hybrid entries <= 0.8 s on 2 cores. Runs alone (`npx tsx bench/audit.ts`) or from `npm run bench -- audit`
// (`runSuite`, which saves bench/results/audit.json for BENCHMARKS.md).

import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { AuditEntry, KavachKeyPair, SecureChannel, SignedAuditChain } from './kavach'
import { NobleAuditLog, NobleSigner, nobleReceiveSigned, nobleSendSigned } from './noble'
import { allRows, machine, versions, type Comparison, type Contender, type SuiteResult } from './results'
import { newPool, timeSync, toRow } from './rounds'
import { printRows } from './table'

const CELL_MS = Number(process.env.KAVACH_BENCH_MS ?? 2_000)
const ROUNDS = 4
const VERIFY_ENTRIES = Number(process.env.KAVACH_BENCH_VERIFY_ENTRIES ?? 10_000)
const BATCH = 64
const NOBLE = '@noble (pure JS) + node:crypto'

/** kavach alone (no peer) in the same rounds; `perCall` items per call scale ops/s to items/s. */
function alone(label: string, ours: () => void, perCall = 1): Comparison {
  const pool = newPool()
  timeSync(newPool(), 200, ours)
  for (let r = 0; r < ROUNDS; r++) timeSync(pool, CELL_MS / ROUNDS, ours)
  const row = toRow(label, pool)
  return { label, rows: [{ ...row, opsPerSec: row.opsPerSec * perCall, library: 'kavach' }] }
}

/** kavach and its noble peer alternating in rounds; `perCall` items per call scale ops/s to items/s. */
function compare(label: string, ours: () => void, noble: () => void, perCall = 1): Comparison {
  const pools = [newPool(), newPool()]
  const ops = [ours, noble]
  ops.forEach((op) => timeSync(newPool(), 200, op))
  for (let r = 0; r < ROUNDS; r++) ops.forEach((op, i) => timeSync(pools[i]!, CELL_MS / ROUNDS, op))
  const rows: Contender[] = ['kavach', NOBLE].map((library, i) => {
    const row = toRow(`${label}: ${library}`, pools[i]!)
    return { ...row, opsPerSec: row.opsPerSec * perCall, library }
  })
  return { label, rows }
}

export async function runSuite(): Promise<SuiteResult> {
  const kp = KavachKeyPair.generate()
  const bundle = kp.publicKeys()
  const entry = AuditEntry.new('agent-bench', 'issue_refund', 'permit', 'token_id=bench', { sessionId: 's-bench' })
  const plainEntry = { principal: 'agent-bench', action: 'issue_refund', decision: 'permit', detail: 'token_id=bench', sessionId: 's-bench', at: new Date().toISOString() }
  const nobleSigner = new NobleSigner(true)
  const comparisons: Comparison[] = []

  const hybrid = new SignedAuditChain(kp, true)
  const nobleLog = new NobleAuditLog(nobleSigner)
  comparisons.push(compare('audit append (hybrid, 1 entry per call)', () => void hybrid.append(entry), () => nobleLog.append(plainEntry)))

  const batch = Array.from({ length: BATCH }, () => entry)
  const grouped = new SignedAuditChain(kp, true)
  const nobleGrouped = new NobleAuditLog(nobleSigner)
  comparisons.push(
    compare(
      `audit appendBatch (hybrid, ${BATCH} entries per call)`,
      () => void grouped.appendBatch(batch),
      () => {
        for (let i = 0; i < BATCH; i++) nobleGrouped.append(plainEntry)
      },
      BATCH,
    ),
  )

  // The durable file chain: every append acknowledged after its own fsync, and group commit.
  const dir = mkdtempSync(join(tmpdir(), 'kavach-bench-audit-'))
  try {
    const eachFile = SignedAuditChain.openFile(join(dir, 'each.jsonl'), kp, { hybrid: true })
    comparisons.push(alone('audit append to a file (hybrid, fsync each)', () => void eachFile.append(entry)))
    const batchFile = SignedAuditChain.openFile(join(dir, 'batch.jsonl'), kp, { hybrid: true })
    comparisons.push(alone(`audit appendBatch to a file (hybrid, ${BATCH} entries, one fsync; target >= 5,000 entries/s)`, () => void batchFile.appendBatch(batch), BATCH))
    eachFile.close()
    batchFile.close()
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }

  // verifyJsonl of a 10,000-entry hybrid chain (built with the parallel batch path); no peer.
  const big = new SignedAuditChain(kp, true)
  while (big.length < VERIFY_ENTRIES) big.appendBatch(Array.from({ length: Math.min(500, VERIFY_ENTRIES - big.length) }, () => entry))
  const blob = big.exportJsonl()
  const t0 = process.hrtime.bigint()
  const n = SignedAuditChain.verifyJsonl(blob, bundle)
  const us = Number(process.hrtime.bigint() - t0) / 1000
  if (n !== VERIFY_ENTRIES) throw new Error(`verified ${n} entries, expected ${VERIFY_ENTRIES}`)
  const verifyLabel = `verifyJsonl of ${VERIFY_ENTRIES.toLocaleString('en-US')} hybrid entries (one call; target <= 0.8 s on 2 cores)`
  comparisons.push({ label: verifyLabel, rows: [{ name: verifyLabel, library: 'kavach', p50us: us, p99us: us, opsPerSec: VERIFY_ENTRIES / (us / 1e6), samples: 1 }] })

  const peer = KavachKeyPair.generate()
  const send = new SecureChannel(kp, peer.publicKeys())
  const recv = new SecureChannel(peer, kp.publicKeys())
  const data = Buffer.from('{"refund":500,"order":"ORD-123"}')
  const noblePeer = new NobleSigner(true)
  if (Buffer.compare(nobleReceiveSigned(nobleSigner, noblePeer, nobleSendSigned(nobleSigner, noblePeer, data)), data) !== 0) throw new Error('noble channel self-check failed')
  let i = 0
  comparisons.push(
    compare(
      'channel sendSigned + receiveSigned (hybrid, v2)',
      () => {
        const sealed = send.sendSigned(data, 'ctx-bench', `corr-${i++}`)
        recv.receiveSigned(sealed, 'ctx-bench')
      },
      () => void nobleReceiveSigned(nobleSigner, noblePeer, nobleSendSigned(nobleSigner, noblePeer, data)),
    ),
  )

  return {
    suite: 'audit',
    title: 'Signed audit chain and secure channel: kavach vs @noble',
    recordedAt: new Date().toISOString(),
    machine: machine(),
    libraries: versions(['kavach-sdk', '@noble/post-quantum', '@noble/curves']),
    method:
      'The @noble peer (bench/noble.ts) does the cryptography of the same operation in JS (ML-DSA, ML-KEM, Ed25519, X25519 from @noble; SHA-256, HKDF and the AEAD from node:crypto): an audit append signs the JSON entry with ML-DSA-65 + Ed25519 and ' +
      'hashes it onto the chain with SHA-256; a channel message is signed (ML-DSA-65 + Ed25519), then encrypted with ML-KEM-768 + ephemeral X25519 → HKDF-SHA256 → ' +
      'ChaCha20-Poly1305, and the receiver decrypts and verifies both signatures. kavach also builds its JSON envelopes, key ids and replay checks, so the comparison is conservative. ' +
      `The two alternate in ${ROUNDS} rounds of ${CELL_MS / ROUNDS} ms each after a 200 ms warm-up. appendBatch signs on up to 4 threads; the noble peer appends the same ${BATCH} entries one by one ` +
      '(JS has one thread). The file rows write a durable chain (openFile): append fsyncs every entry, appendBatch fsyncs once per call. For appendBatch and verifyJsonl, ops/s counts entries (p50/p99 are per call). ' +
      'The ratio is kavach ops/s over noble ops/s. The machine is shared: its 1-minute load average is recorded with the results.',
    chart: 'ratios',
    comparisons,
  }
}

if (require.main === module) {
  void runSuite().then((result) => printRows(allRows(result)))
}
