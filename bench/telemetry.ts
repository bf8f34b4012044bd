// What telemetry costs `gate.evaluate`: the same gate built four ways (no telemetry option,
// `telemetry: false`, `onVerdict` alone, `telemetry: true` + `onVerdict` on the global
// OpenTelemetry providers, no SDK registered) timed in alternating short rounds, so a change
// in the machine's load during the run does not favour any of them. "Off" must match the
// plain gate within noise: without the options the gate keeps its plain methods.

import { Gate, type EvaluateOptions } from './kavach'
import { kavachPolicies, ROLE } from './peers'
import { newPool, type Pool, timeSync, toRow } from './rounds'
import type { BenchRow } from './run'

const ROUNDS = 12
const ROUND_MS = 250
const POLICIES = 10

export async function runBench(): Promise<BenchRow[]> {
  const ctx: EvaluateOptions = { principalId: 'agent-bot', principalKind: 'agent', roles: [ROLE], actionName: `tool_${POLICIES - 1}`, params: { amount: 500 } }
  let seen = 0
  const onVerdict = (): void => {
    seen++
  }
  const variants: { name: string; gate: Gate; pool: Pool }[] = [
    { name: 'no telemetry option', options: {} },
    { name: 'telemetry: false', options: { telemetry: false } },
    { name: 'onVerdict only', options: { onVerdict } },
    { name: 'telemetry: true + onVerdict', options: { telemetry: true, onVerdict } },
  ].map(({ name, options }) => ({
    name: `gate.evaluate, ${name}`,
    gate: Gate.fromObject(kavachPolicies(POLICIES), { enableDrift: false, ...options }),
    pool: newPool(),
  }))
  for (const v of variants) {
    if (!v.gate.evaluate(ctx).isPermit) throw new Error('bench context must be permitted')
    timeSync(newPool(), ROUND_MS, () => v.gate.evaluate(ctx)) // warm-up
  }
  for (let round = 0; round < ROUNDS; round++) {
    // Rotate the starting variant so none always runs first in a round.
    for (let i = 0; i < variants.length; i++) {
      const v = variants[(round + i) % variants.length]!
      timeSync(v.pool, ROUND_MS, () => v.gate.evaluate(ctx))
    }
  }
  if (seen === 0) throw new Error('onVerdict was never called')
  for (const v of variants) await v.gate.close()
  return variants.map((v) => toRow(v.name, v.pool))
}
