// Audit chain and secure channel: hybrid append per second (one entry per call, and the
// parallel group-commit `appendBatch`), `verifyJsonl` of 10,000 entries, and a channel
// `sendSigned` + `receiveSigned` round trip. Runs alone (`npx tsx bench/audit.ts`) or from
// `npm run bench` (exports `runBench`).

import { AuditEntry, KavachKeyPair, SecureChannel, SignedAuditChain } from '../index'
import type { BenchRow } from './run'
import { printRows } from './table'

const CELL_MS = Number(process.env.KAVACH_BENCH_MS ?? 2_000)
const VERIFY_ENTRIES = Number(process.env.KAVACH_BENCH_VERIFY_ENTRIES ?? 10_000)

/** Runs `op` for `ms` after a short warm-up; per-call latency in µs. */
function measure(name: string, ms: number, op: () => void, perCall = 1): BenchRow {
  const warm = Date.now() + 200
  while (Date.now() < warm) op()
  const samples: number[] = []
  const start = process.hrtime.bigint()
  const until = Date.now() + ms
  while (Date.now() < until) {
    const t0 = process.hrtime.bigint()
    op()
    samples.push(Number(process.hrtime.bigint() - t0) / 1000)
  }
  const elapsedS = Number(process.hrtime.bigint() - start) / 1e9
  samples.sort((a, b) => a - b)
  const at = (q: number): number => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))] ?? 0
  return { name, p50us: at(0.5), p99us: at(0.99), opsPerSec: (samples.length * perCall) / elapsedS, samples: samples.length }
}

export async function runBench(): Promise<BenchRow[]> {
  const kp = KavachKeyPair.generate()
  const bundle = kp.publicKeys()
  const entry = AuditEntry.new('agent-bench', 'issue_refund', 'permit', 'token_id=bench', { sessionId: 's-bench' })
  const rows: BenchRow[] = []

  const hybrid = new SignedAuditChain(kp, true)
  rows.push(measure('audit append (hybrid, 1 per call)', CELL_MS, () => void hybrid.append(entry)))
  const batch = Array.from({ length: 64 }, () => entry)
  const grouped = new SignedAuditChain(kp, true)
  rows.push(measure('audit appendBatch (hybrid, 64 per call), entries/s', CELL_MS, () => void grouped.appendBatch(batch), 64))

  // verifyJsonl of a 10,000-entry hybrid chain (built with the parallel batch path).
  const big = new SignedAuditChain(kp, true)
  while (big.length < VERIFY_ENTRIES) big.appendBatch(Array.from({ length: Math.min(500, VERIFY_ENTRIES - big.length) }, () => entry))
  const blob = big.exportJsonl()
  const t0 = process.hrtime.bigint()
  const n = SignedAuditChain.verifyJsonl(blob, bundle)
  const us = Number(process.hrtime.bigint() - t0) / 1000
  if (n !== VERIFY_ENTRIES) throw new Error(`verified ${n} entries, expected ${VERIFY_ENTRIES}`)
  rows.push({ name: `verifyJsonl ${VERIFY_ENTRIES} hybrid entries (per call), entries/s`, p50us: us, p99us: us, opsPerSec: VERIFY_ENTRIES / (us / 1e6), samples: 1 })

  const peer = KavachKeyPair.generate()
  const send = new SecureChannel(kp, peer.publicKeys())
  const recv = new SecureChannel(peer, kp.publicKeys())
  const data = Buffer.from('{"refund":500,"order":"ORD-123"}')
  let i = 0
  rows.push(
    measure('channel sendSigned + receiveSigned (hybrid, v2)', CELL_MS, () => {
      const sealed = send.sendSigned(data, 'ctx-bench', `corr-${i++}`)
      recv.receiveSigned(sealed, 'ctx-bench')
    }),
  )
  return rows
}

if (require.main === module) {
  void runBench().then((rows) => {
    printRows(rows)
  })
}
