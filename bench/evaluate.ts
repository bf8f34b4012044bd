// p50/p99 of gate.evaluate() through the public TS API with tinybench: the policy set of
// bench/peers.ts (one policy per action, no signing) at 10 and 1,000 policies (candidates are
// found by action name, so the larger set should cost about the same).

import { Bench } from 'tinybench'

import { Gate, type EvaluateOptions } from './kavach'
import { kavachPolicies, ROLE } from './peers'
import type { BenchRow } from './run'

export async function runBench(): Promise<BenchRow[]> {
  const rows: BenchRow[] = []
  for (const n of [10, 1000]) {
    const gate = Gate.fromObject(kavachPolicies(n), { enableDrift: false })
    // The last policy's action: the worst case for any scan, the same for an index.
    const ctx: EvaluateOptions = { principalId: 'agent-bot', principalKind: 'agent', roles: [ROLE], actionName: `tool_${n - 1}`, params: { amount: 500 } }
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
  return rows
}
