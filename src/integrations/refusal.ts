// What every integration shares: the params a tool call or request body forwards to the gate,
// and the refusal a model or client reads back. Shaping only: the gate decides, and says which
// params its rules read.

import { isParamValue, paramValueProblem } from '../context.js'
import { native } from '../errors.js'
import type { Gate } from '../gate.js'
import type { Verdict } from '../native.js'
import { setOwn } from '../own-properties.js'
import type { RefuseCode } from '../verdict.js'

/**
 * The params a tool input or request body forwards to `gate`: its top-level number and string
 * fields (the gate's params are scalars; a non-object input forwards none). A field of any
 * other kind (a boolean, an array, an object, `null`, `NaN`, `Infinity`) is left out, unless
 * a condition or invariant of the gate reads a param of that name (`gate.readsParam`): then
 * the call is refused, since that rule would judge it as if the field were absent while the
 * tool or handler still receives it (`{"amount": [5000]}` past an invariant capping `amount`).
 * `undefined` is an absent field. Each field is read once.
 */
export function forwardedParams(gate: Gate, input: unknown): { params: Record<string, number | string> } | { refusal: string } {
  const params: Record<string, number | string> = {}
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return { params }
  const left: string[] = []
  const leftValues: unknown[] = []
  for (const [name, value] of Object.entries(input)) {
    if (isParamValue(value)) setOwn(params, name, value)
    else if (value !== undefined) {
      left.push(name)
      leftValues.push(value)
    }
  }
  // One native call for all of them: a body of 100,000 booleans asks once, not 100,000 times.
  const read = left.length === 0 ? null : native(() => gate.native.firstReadParam(left))
  if (read == null) return { params }
  const at = read < left.length ? read : 0
  return { refusal: `${paramValueProblem(left[at]!, leftValues[at])}, and a policy or invariant of this gate reads it` }
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
