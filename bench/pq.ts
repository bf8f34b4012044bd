// Post-quantum identity: hybrid (ML-DSA-65 + Ed25519) and PQ-only permit sign/verify and key
// generation against the pure-JS @noble/post-quantum ML-DSA-65 (+ @noble/curves Ed25519 for
// hybrid) on the same messages, in the same run, the two alternating in rounds
// (bench/rounds.ts); the speedup is the ratio of pooled throughputs. Signing is randomized
// (hedged) on both sides, so its cost varies with the number of rejection rounds: the pools
// hold hundreds of signatures per side. A signed `evaluate()` is timed with tinybench.
// Runs alone (`npx tsx bench/pq.ts`) or from `npm run bench -- pq` (`runSuite`, which saves
// bench/results/pq.json for BENCHMARKS.md).
//
// Our sign/verify include building/parsing the JSON envelope; noble's are the bare
// primitives, so the comparison is conservative.

import { loadavg } from 'node:os'

import { Bench } from 'tinybench'

import { signingSetup, TOKEN } from '../__test__/fixtures/pq-keys'
import { Gate, KavachKeyPair } from './kavach'
import type { PermitTokenInput } from './kavach'
import { NobleSigner, nobleKeygen } from './noble'
import { machine, versions, type Comparison, type SuiteResult } from './results'
import { newPool, timeSync, toRow } from './rounds'
import type { BenchRow } from './run'
import { printRows } from './table'

/** Time per side of each comparison, split into ROUNDS alternating rounds. */
const CELL_MS = Number(process.env.KAVACH_BENCH_MS ?? 4_000)
const ROUNDS = 4

/** FORMATS.md canonical bytes of TOKEN: what both implementations sign. */
function canonical(t: PermitTokenInput): Uint8Array {
  const uuid = (s: string): Buffer => Buffer.from(s.replace(/-/g, ''), 'hex')
  const times = Buffer.alloc(16)
  times.writeBigInt64LE(BigInt(t.issuedAt), 0)
  times.writeBigInt64LE(BigInt(t.expiresAt), 8)
  return new Uint8Array(Buffer.concat([uuid(t.tokenId), uuid(t.evaluationId), times, Buffer.from(t.actionName, 'utf8')]))
}

interface Pair {
  label: string
  ours: () => void
  noble: () => void
}

export interface PqComparison {
  label: string
  oursOpsPerSec: number
  nobleOpsPerSec: number
  speedup: number
}

function row(name: string, bench: Bench, taskName: string): BenchRow {
  const task = bench.getTask(taskName)
  const r = task?.result
  if (r === undefined || !('latency' in r)) throw new Error(`bench task ${taskName} has no result`)
  return {
    name,
    p50us: (r.latency.p50 ?? 0) * 1000,
    p99us: (r.latency.p99 ?? 0) * 1000,
    opsPerSec: 1000 / r.latency.mean,
    samples: r.latency.samplesCount,
  }
}

const NOBLE = '@noble/post-quantum + @noble/curves (pure JS)'

/** Runs every benchmark; rows for the shared table, the speedups over noble, and the suite's saved comparisons. */
export async function runPqBench(): Promise<{ rows: BenchRow[]; comparisons: PqComparison[]; suite: Comparison[] }> {
  const msg = canonical(TOKEN)
  const { hybrid, pqOnly, hybridVerifier, pqVerifier } = signingSetup()
  const hybridSig = hybrid.sign(TOKEN)
  const pqSig = pqOnly.sign(TOKEN)

  // noble keys of the same kind; signatures over the same canonical bytes.
  const nHybrid = new NobleSigner(true)
  const nPqOnly = new NobleSigner(false)
  const nHybridSig = nHybrid.sign(msg)
  const nPqSig = nPqOnly.sign(msg)
  if (!nHybrid.verify(nHybridSig, msg) || !nPqOnly.verify(nPqSig, msg)) throw new Error('noble self-check failed')

  const PERMIT_ALL = { policies: [{ name: 'all', effect: 'permit' as const, conditions: [] }] }
  const ctx = { principalId: 'agent-bench', principalKind: 'agent' as const, actionName: 'issue_refund', params: { amount: 10 } }
  const signedGate = Gate.fromObject(PERMIT_ALL, { tokenSigner: hybrid, enableDrift: false })
  const plainGate = Gate.fromObject(PERMIT_ALL, { enableDrift: false })
  if (signedGate.evaluate(ctx).signature === undefined) throw new Error('signed gate did not sign')

  const pairs: Pair[] = [
    {
      label: 'hybrid sign',
      ours: () => void hybrid.sign(TOKEN),
      noble: () => void nHybrid.sign(msg),
    },
    {
      label: 'hybrid verify',
      ours: () => hybridVerifier.verify(TOKEN, hybridSig),
      noble: () => {
        if (!nHybrid.verify(nHybridSig, msg)) throw new Error('bad')
      },
    },
    {
      label: 'PQ-only sign',
      ours: () => void pqOnly.sign(TOKEN),
      noble: () => void nPqOnly.sign(msg),
    },
    {
      label: 'PQ-only verify',
      ours: () => pqVerifier.verify(TOKEN, pqSig),
      noble: () => {
        if (!nPqOnly.verify(nPqSig, msg)) throw new Error('bad')
      },
    },
    {
      label: 'keygen (ML-DSA-65 + Ed25519 + ML-KEM-768 + X25519)',
      ours: () => void KavachKeyPair.generate(),
      noble: nobleKeygen,
    },
  ]

  const rows: BenchRow[] = []
  const comparisons: PqComparison[] = []
  const suite: Comparison[] = []
  for (const p of pairs) {
    const ours = newPool()
    const noble = newPool()
    timeSync(newPool(), 200, p.ours)
    timeSync(newPool(), 200, p.noble)
    for (let r = 0; r < ROUNDS; r++) {
      timeSync(ours, CELL_MS / ROUNDS, p.ours)
      timeSync(noble, CELL_MS / ROUNDS, p.noble)
    }
    const oursRow = toRow(`pq ${p.label} (kavach)`, ours)
    const nobleRow = toRow(`pq ${p.label} (@noble, pure JS)`, noble)
    const speedup = oursRow.opsPerSec / nobleRow.opsPerSec
    oursRow.name += ` ${speedup.toFixed(1)}x`
    rows.push(oursRow, nobleRow)
    comparisons.push({ label: p.label, oursOpsPerSec: oursRow.opsPerSec, nobleOpsPerSec: nobleRow.opsPerSec, speedup })
    suite.push({ label: p.label, rows: [{ ...oursRow, library: 'kavach' }, { ...nobleRow, library: NOBLE }] })
  }

  const bench = new Bench({ time: 1_500, warmupTime: 200 })
  bench.add('evaluate (unsigned)', () => void plainGate.evaluate(ctx))
  bench.add('evaluate (hybrid-signed permit)', () => void signedGate.evaluate(ctx))
  await bench.run()

  for (const name of ['evaluate (unsigned)', 'evaluate (hybrid-signed permit)']) {
    const r = row(name, bench, name)
    rows.push(r)
    suite.push({ label: name, rows: [{ ...r, library: 'kavach' }] })
  }
  await Promise.all([signedGate.close(), plainGate.close()])
  return { rows, comparisons, suite }
}

/** Entry point of the shared bench runner (bench/run.ts). */
export async function runSuite(): Promise<SuiteResult> {
  const { suite } = await runPqBench()
  return {
    suite: 'pq',
    title: 'Post-quantum signatures: kavach vs @noble (pure JS)',
    recordedAt: new Date().toISOString(),
    machine: machine(),
    libraries: versions(['kavach-sdk', '@noble/post-quantum', '@noble/curves']),
    method:
      'Each operation signs or verifies the same FORMATS.md canonical permit-token bytes on both sides (kavach through PqTokenSigner / DirectoryTokenVerifier, ' +
      `including its JSON envelope; @noble the bare primitives). The two alternate in ${ROUNDS} rounds of ${CELL_MS / ROUNDS} ms each after a warm-up, and each pools its rounds; ` +
      'signing is hedged (randomized) on both sides. The ratio is kavach ops/s over noble ops/s. The two evaluate rows (tinybench) have no peer. ' +
      'Issue targets: every sign and verify >= 30x @noble; evaluate with a hybrid-signed permit p50 <= 250 µs. The machine is shared: its 1-minute load average is recorded with the results.',
    chart: 'ratios',
    comparisons: suite,
  }
}

if (require.main === module) {
  void runPqBench().then(({ rows, comparisons }) => {
    printRows(rows)
    for (const c of comparisons) console.log(`${c.label}: ${c.speedup.toFixed(1)}x faster than @noble (target >= 30x for sign/verify)`)
    console.log(`load average: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`)
  })
}
