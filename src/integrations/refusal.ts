// What every integration shares: the params a tool call or request body forwards to the gate,
// and the refusal a model or client reads back. Shaping only; the gate decided.

import { setOwn } from '../own-properties.js'
import type { RefuseCode } from '../verdict.js'
import type { Verdict } from '../native.js'

/**
 * The top-level number and string fields of a tool input or request body (the gate's params
 * are scalars). Anything else, including a non-object input, forwards nothing.
 */
export function scalarFields(input: unknown): Record<string, number | string> {
  const out: Record<string, number | string> = {}
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return out
  for (const [name, value] of Object.entries(input)) {
    if (typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value))) setOwn(out, name, value)
  }
  return out
}

/** What a model (or an HTTP client) reads when the gate refuses: code and reason. */
export interface ToolRefusal {
  refused: true
  code: RefuseCode
  reason: string
}

/** The refusal carried by a non-permit verdict. */
export function refusalOf(v: Verdict): ToolRefusal {
  return { refused: true, code: v.code ?? 'NO_POLICY_MATCH', reason: v.reason ?? 'refused' }
}

/** One line a model can read: `kavach refused '<action>': <CODE>: <reason>`. */
export function refusalText(action: string, v: Verdict): string {
  const r = refusalOf(v)
  return `kavach refused '${action}': ${r.code}: ${r.reason}`
}
