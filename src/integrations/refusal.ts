// What every integration shares: the params a tool call or request body forwards to the gate,
// and the refusal a model or client reads back. Shaping only; the gate decided.

import { randomUUID } from 'node:crypto'

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
    if (typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value))) out[name] = value
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

/**
 * A refusal decided before the gate ran (no caller, a session store that failed). Built like
 * the gate's own verdicts so callers handle one shape.
 */
export function refuseVerdict(code: RefuseCode, evaluator: string, reason: string): Verdict {
  return {
    kind: 'refuse',
    isPermit: false,
    isRefuse: true,
    isInvalidate: false,
    code,
    evaluator,
    reason,
    tokenId: undefined,
    permitToken: undefined,
    signature: undefined,
    scope: undefined,
    evaluationId: randomUUID(),
    observed: undefined,
  }
}

/** A session revoked in an integration's session store, answered without running the gate. */
export function revokedSessionVerdict(sessionId: string, evaluator: string): Verdict {
  const reason = `session '${sessionId}' was invalidated`
  return {
    kind: 'invalidate',
    isPermit: false,
    isRefuse: false,
    isInvalidate: true,
    code: 'SESSION_INVALID',
    evaluator,
    reason,
    tokenId: undefined,
    permitToken: undefined,
    signature: undefined,
    scope: { targetKind: 'session', targetId: sessionId, reason, evaluator },
    evaluationId: randomUUID(),
    observed: undefined,
  }
}
