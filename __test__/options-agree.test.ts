// The exported zod schema of gate options (`kavach-sdk/schema`, for pre-flight checks in other
// tools) must accept exactly what the gate accepts: probed at and around every numeric bound,
// through both.

import { describe, expect, test } from 'vitest'

import { Gate, type GateOptions } from '../index'
import { GateOptionsSchema } from '../src/schema'

const POLICY = { policies: [{ name: 'p', effect: 'permit' as const, conditions: [] }] }

const PROBES = [-1, -0.5, 0, 0.5, 1, 1.5, 2, 59, 60, 300, 86_399, 86_400, 86_401, 100_000, 999_999, 1_000_000, 1_000_001, 31_535_999, 31_536_000, 31_536_001, 2 ** 31, 2 ** 32 + 1, 2 ** 53, 1e300, NaN, Infinity, -Infinity]

const NUMERIC: (keyof GateOptions)[] = ['maxSessionActions', 'geoDriftMaxKm', 'permitTtlSeconds', 'invalidationTtlSeconds', 'maxClockSkewSeconds', 'maxPendingEvaluations', 'sessionIdleSeconds']

function gateAccepts(options: GateOptions): boolean {
  try {
    void Gate.fromObject(POLICY, options).close()
    return true
  } catch {
    return false
  }
}

describe('GateOptionsSchema agrees with the gate', () => {
  for (const option of NUMERIC) {
    test(option, () => {
      const disagreements = PROBES.filter((v) => GateOptionsSchema.safeParse({ [option]: v }).success !== gateAccepts({ [option]: v }))
      expect(disagreements).toEqual([])
      // Not vacuous: each option has values both accept and values both refuse.
      expect(PROBES.some((v) => gateAccepts({ [option]: v }))).toBe(true)
      expect(PROBES.some((v) => !gateAccepts({ [option]: v }))).toBe(true)
    })
  }
})
