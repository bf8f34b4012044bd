// p50/p99 of gate.evaluate() through the public TS API with tinybench: the policy set of
// bench/peers.ts (one policy per action, no signing) at 10 and 1,000 policies (candidates are
// found by action name, so the larger set should cost about the same). Then what interning
// names buys (the `interned-names` speed layer, docs/ARCHITECTURE.md): the same call on a gate
// with it and on one without, timed alternating in rounds.

import { Bench } from 'tinybench'

import { setSpeedLayersOff } from '../binding.js'
import { Gate, type EvaluateOptions } from './kavach'
import { kavachPolicies, ROLE } from './peers'
import { newPool, timeSync, toRow } from './rounds'
import type { BenchRow } from './run'

/** The bench request on a set of `n` policies: the last policy's action, permitted. */
function benchContext(n: number): EvaluateOptions {
  return { principalId: 'agent-bot', principalKind: 'agent', roles: [ROLE], actionName: `tool_${n - 1}`, params: { amount: 500 } }
}

export async function runBench(): Promise<BenchRow[]> {
  const rows: BenchRow[] = []
  for (const n of [10, 1000]) {
    const gate = Gate.fromObject(kavachPolicies(n), { enableDrift: false })
    // The last policy's action: the worst case for any scan, the same for an index.
    const ctx = benchContext(n)
    if (!gate.evaluate(ctx).isPermit) throw new Error('bench context must be permitted')
    const bench = new Bench({ time: 2000, warmupTime: 500 })
    bench.add(`gate.evaluate, ${n.toLocaleString('en-US')} policies`, () => {
      gate.evaluate(ctx)
    })
    await bench.run()
    for (const task of bench.tasks) {
      const r = task.result
      if (r === undefined || !('latency' in r)) throw new Error(`bench '${task.name}' produced no result`)
      rows.push({ name: task.name, p50us: r.latency.p50 * 1000, p99us: r.latency.p99 * 1000, opsPerSec: r.throughput.mean, samples: r.latency.samplesCount })
    }
  }
  return [...rows, ...internedNamesAblation()]
}

const ABLATION_ROUNDS = 8
const ABLATION_ROUND_MS = 500

/**
 * Two gates on the 10-policy set: one that interned the request's names on its first call,
 * one created and first called with the `interned-names` layer off, which then sends every
 * name in the text for good. Timed alternating, `ABLATION_ROUNDS` rounds each (bench/rounds.ts:
 * p50 of single calls, ops/s of batches).
 */
function internedNamesAblation(): BenchRow[] {
  const ctx = benchContext(10)
  const withNames = Gate.fromObject(kavachPolicies(10), { enableDrift: false })
  withNames.evaluate(ctx)
  setSpeedLayersOff(['interned-names'])
  let withoutNames: Gate
  try {
    withoutNames = Gate.fromObject(kavachPolicies(10), { enableDrift: false })
    withoutNames.evaluate(ctx)
  } finally {
    setSpeedLayersOff([])
  }
  const variants = [
    { name: 'gate.evaluate, 10 policies, all layers (alternating)', gate: withNames },
    { name: 'gate.evaluate, 10 policies, interned-names off (alternating)', gate: withoutNames },
  ]
  const ops = variants.map(({ gate }) => () => {
    if (!gate.evaluate(ctx).isPermit) throw new Error('bench context must be permitted')
  })
  const pools = variants.map(() => newPool())
  for (const op of ops) timeSync(newPool(), 200, op)
  for (let r = 0; r < ABLATION_ROUNDS; r++) ops.forEach((op, i) => timeSync(pools[i]!, ABLATION_ROUND_MS, op))
  return variants.map((v, i) => toRow(v.name, pools[i]!))
}
