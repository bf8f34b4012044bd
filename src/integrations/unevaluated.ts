// Verdicts an integration reaches without evaluating: no caller, `identify` failed, a request
// it cannot judge, its own session store failed or says the session was revoked. Each is
// recorded by the gate as its own (audited when the gate has an audit chain; native
// `recordUnevaluated`, crates/kavach-core/src/gate/unevaluated.rs) and reported to the gate's
// `onVerdict` and telemetry, so every verdict a caller is given appears where evaluations do.

import { randomUUID } from 'node:crypto'

import type { EvaluateOptions, PrincipalKind } from '../context.js'
import type { Gate } from '../gate.js'
import { UNIDENTIFIED_PRINCIPAL } from '../generated/layout.js'
import type { UnevaluatedVerdict, Verdict } from '../native.js'
import { observeUnevaluated } from '../telemetry.js'
import { fromRaw, type RefuseCode } from '../verdict.js'
import { thrownText } from '../errors.js'

/** What the integration knew of the call. */
export interface CallFacts {
  actionName: string
  /** Absent when nobody identified the caller. */
  principalId?: string
  principalKind?: PrincipalKind
  resource?: string
  sessionId?: string
  ip?: string
}

/** A refusal decided before the gate could evaluate, recorded as the gate's. */
export function refuseUnevaluated(gate: Gate, code: RefuseCode, evaluator: string, reason: string, facts: CallFacts): Verdict {
  return recorded(gate, { code, evaluator, reason, ...nativeFacts(facts) }, facts, () => fromRaw([1, randomUUID(), code, evaluator, reason]))
}

/** A session revoked in an integration's session store, recorded as the gate's Invalidate. */
export function revokedSessionUnevaluated(gate: Gate, sessionId: string, evaluator: string, facts: CallFacts): Verdict {
  const reason = `session '${sessionId}' was invalidated`
  const u = undefined
  // Positions 12 and 13 of the raw layout: the scope's kind and target.
  const fallback = (): Verdict => fromRaw([2, randomUUID(), 'SESSION_INVALID', evaluator, reason, u, u, u, u, u, u, u, 'session', sessionId])
  return recorded(gate, { evaluator, reason, revokedSessionId: sessionId, ...nativeFacts(facts) }, facts, fallback)
}

/** The facts of a context the integration built but did not evaluate. */
export function contextFacts(ctx: Omit<EvaluateOptions, 'params'>): CallFacts {
  const facts: CallFacts = { actionName: ctx.actionName, principalId: ctx.principalId, principalKind: ctx.principalKind }
  if (ctx.resource !== undefined) facts.resource = ctx.resource
  if (ctx.sessionId !== undefined) facts.sessionId = ctx.sessionId
  if (ctx.ip !== undefined) facts.ip = ctx.ip
  return facts
}

function nativeFacts(f: CallFacts): Omit<UnevaluatedVerdict, 'code' | 'evaluator' | 'reason' | 'revokedSessionId'> {
  return { actionName: f.actionName, principalId: f.principalId, resource: f.resource, sessionId: f.sessionId, ip: f.ip }
}

/**
 * Records `v` on the gate and reports it to the gate's hooks. Recording cannot change the
 * answer: if the native call fails (a string napi cannot take, say), the caller still gets the
 * same refusal, built here, and a warning says it was not recorded.
 */
function recorded(gate: Gate, v: UnevaluatedVerdict, facts: CallFacts, fallback: () => Verdict): Verdict {
  let verdict: Verdict
  try {
    verdict = fromRaw(gate.native.recordUnevaluated(v))
  } catch (e) {
    process.emitWarning(`kavach: a ${v.code ?? 'SESSION_INVALID'} verdict for '${facts.actionName}' could not be recorded (the verdict stands): ${thrownText(e)}`, {
      code: 'KAVACH_UNEVALUATED_NOT_RECORDED',
    })
    verdict = fallback()
  }
  observeUnevaluated(gate, verdict, contextOf(facts))
  return verdict
}

/** The context `onVerdict` is given: what was known, the unidentified caller named as in the audit trail. */
function contextOf(f: CallFacts): EvaluateOptions {
  const ctx: EvaluateOptions = { principalId: f.principalId ?? UNIDENTIFIED_PRINCIPAL, principalKind: f.principalKind ?? 'external', actionName: f.actionName }
  if (f.resource !== undefined) ctx.resource = f.resource
  if (f.sessionId !== undefined) ctx.sessionId = f.sessionId
  if (f.ip !== undefined) ctx.ip = f.ip
  return ctx
}
