// Verdict types, and the conversions of the native hot path's answers into `Verdict` objects:
// the fast path's string + shared numbers (`fromFast`, and `fromFastAt` for evaluateAsync
// batches; layout `fast_out` in
// crates/kavach-node/src/verdict.rs) and the general flat array (`fromRaw`, module `raw`
// there). Data shaping only: every decision was made in Rust.
//
// Every verdict is built by ONE object literal with all fields, in one order, absent ones
// `undefined` (no spreads, no properties added later): V8 then gives all verdicts one hidden
// class and the literal costs a few stores.

import {
  FAST_OUT_CODE,
  FAST_OUT_EVALUATOR_LEN,
  FAST_OUT_EXPIRES_AT,
  FAST_OUT_ISSUED_AT,
  FAST_OUT_KIND,
  FAST_OUT_OBSERVE_ONLY,
  FAST_OUT_REASON_LEN,
  FAST_OUT_SCOPE_KIND,
  KIND_PERMIT,
  KIND_REFUSE,
  RAW_ACTION_NAME,
  RAW_CODE,
  RAW_EVALUATION_ID,
  RAW_EVALUATOR,
  RAW_EXPIRES_AT,
  RAW_ISSUED_AT,
  RAW_KIND,
  RAW_OBSERVE_ONLY,
  RAW_OBSERVED,
  RAW_REASON,
  RAW_SCOPE_KIND,
  RAW_SCOPE_TARGET,
  RAW_SIGNATURE,
  RAW_TOKEN_EVALUATION_ID,
  RAW_TOKEN_ID,
  REFUSE_CODES,
  SCOPE_KINDS,
} from './generated/layout.js'
import type { NativeGate, ObservedVerdict, PermitTokenView, ScopeView, Verdict } from './native.js'

/** Refuse codes the gate returns (`verdict.code`), as declared by the native binding. */
export type RefuseCode = NonNullable<Verdict['code']>

export type { Verdict }

/** What `evaluateRaw` returns. */
export type RawVerdict = ReturnType<NativeGate['evaluateRaw']>

/** Length of a hyphenated UUID, the evaluation and token ids. */
const ID_LEN = 36

function permit(
  evaluationId: string,
  permitToken: PermitTokenView,
  observed: ObservedVerdict | undefined,
): Verdict {
  return {
    kind: 'permit',
    isPermit: true,
    isRefuse: false,
    isInvalidate: false,
    code: undefined,
    evaluator: undefined,
    reason: undefined,
    tokenId: permitToken.tokenId,
    permitToken,
    signature: permitToken.signature,
    scope: undefined,
    evaluationId,
    observed,
  }
}

function refuse(evaluationId: string, code: RefuseCode | undefined, evaluator: string, reason: string, observed: ObservedVerdict | undefined): Verdict {
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
    evaluationId,
    observed,
  }
}

function invalidate(evaluationId: string, scope: ScopeView, observed: ObservedVerdict | undefined): Verdict {
  return {
    kind: 'invalidate',
    isPermit: false,
    isRefuse: false,
    isInvalidate: true,
    code: 'SESSION_INVALID',
    evaluator: scope.evaluator,
    reason: scope.reason,
    tokenId: undefined,
    permitToken: undefined,
    signature: undefined,
    scope,
    evaluationId,
    observed,
  }
}

function token(tokenId: string, evaluationId: string, issuedAt: number, expiresAt: number, actionName: string, signature: Buffer | undefined, observeOnly: boolean): PermitTokenView {
  return { tokenId, evaluationId, issuedAt, expiresAt, actionName, signature, observeOnly }
}

function scopeView(targetKind: ScopeView['targetKind'], targetId: string, reason: string, evaluator: string): ScopeView {
  return { targetKind, targetId, reason, evaluator }
}

/**
 * The fast path's answer: `text` starts with the evaluation id, the numbers are in `s`
 * (positions: `fast_out`). `actionName` is the evaluated action (the native side only takes
 * this path when the token's action is exactly it).
 */
export function fromFast(text: string, s: Float64Array, actionName: string): Verdict {
  return fromFastAt(text, 0, text.length, s, 0, actionName)
}

/**
 * `fromFast` for one verdict of an `evaluateAsync` batch (crates/kavach-node/src/dispatch.rs):
 * its text is `text[start, end)`, its numbers start at `s[o]` (positions `FAST_OUT_*`), and a permit's action name
 * ends its text when `actionName` is undefined.
 */
export function fromFastAt(text: string, start: number, end: number, s: Float64Array, o: number, actionName: string | undefined): Verdict {
  const b = start + ID_LEN
  const evaluationId = text.slice(start, b)
  switch (s[o + FAST_OUT_KIND]) {
    case KIND_PERMIT:
      return permit(
        evaluationId,
        token(text.slice(b, b + ID_LEN), evaluationId, s[o + FAST_OUT_ISSUED_AT]!, s[o + FAST_OUT_EXPIRES_AT]!, actionName ?? text.slice(b + ID_LEN, end), undefined, s[o + FAST_OUT_OBSERVE_ONLY] === 1),
        undefined,
      )
    case KIND_REFUSE: {
      const e = b + s[o + FAST_OUT_EVALUATOR_LEN]!
      return refuse(evaluationId, REFUSE_CODES[s[o + FAST_OUT_CODE]!], text.slice(b, e), text.slice(e, end), undefined)
    }
    default: {
      const e = b + s[o + FAST_OUT_EVALUATOR_LEN]!
      const r = e + s[o + FAST_OUT_REASON_LEN]!
      return invalidate(evaluationId, scopeView(SCOPE_KINDS[s[o + FAST_OUT_SCOPE_KIND]!]!, text.slice(r, end), text.slice(e, r), text.slice(b, e)), undefined)
    }
  }
}

/** The would-be verdict of an observe-only gate (a verdict without `evaluationId`/`observed`). */
function observedOf(a: RawVerdict, evaluationId: string): ObservedVerdict {
  switch (a[RAW_KIND]) {
    case KIND_PERMIT: {
      const t = token(a[RAW_TOKEN_ID]!, a[RAW_TOKEN_EVALUATION_ID] ?? evaluationId, a[RAW_ISSUED_AT]!, a[RAW_EXPIRES_AT]!, a[RAW_ACTION_NAME]!, a[RAW_SIGNATURE], a[RAW_OBSERVE_ONLY] === true)
      return {
        kind: 'permit',
        isPermit: true,
        isRefuse: false,
        isInvalidate: false,
        code: undefined,
        evaluator: undefined,
        reason: undefined,
        tokenId: t.tokenId,
        permitToken: t,
        signature: t.signature,
        scope: undefined,
      }
    }
    case KIND_REFUSE:
      return {
        kind: 'refuse',
        isPermit: false,
        isRefuse: true,
        isInvalidate: false,
        code: a[RAW_CODE],
        evaluator: a[RAW_EVALUATOR],
        reason: a[RAW_REASON],
        tokenId: undefined,
        permitToken: undefined,
        signature: undefined,
        scope: undefined,
      }
    default:
      return {
        kind: 'invalidate',
        isPermit: false,
        isRefuse: false,
        isInvalidate: true,
        code: a[RAW_CODE],
        evaluator: a[RAW_EVALUATOR],
        reason: a[RAW_REASON],
        tokenId: undefined,
        permitToken: undefined,
        signature: undefined,
        scope: scopeView(a[RAW_SCOPE_KIND]!, a[RAW_SCOPE_TARGET]!, a[RAW_REASON]!, a[RAW_EVALUATOR]!),
      }
  }
}

/** The native flat array as a `Verdict`. */
export function fromRaw(a: RawVerdict): Verdict {
  const evaluationId = a[RAW_EVALUATION_ID]
  const observed = a[RAW_OBSERVED] === undefined ? undefined : observedOf(a[RAW_OBSERVED] as RawVerdict, evaluationId)
  switch (a[RAW_KIND]) {
    case KIND_PERMIT:
      return permit(evaluationId, token(a[RAW_TOKEN_ID]!, a[RAW_TOKEN_EVALUATION_ID] ?? evaluationId, a[RAW_ISSUED_AT]!, a[RAW_EXPIRES_AT]!, a[RAW_ACTION_NAME]!, a[RAW_SIGNATURE], a[RAW_OBSERVE_ONLY] === true), observed)
    case KIND_REFUSE:
      return refuse(evaluationId, a[RAW_CODE], a[RAW_EVALUATOR]!, a[RAW_REASON]!, observed)
    default:
      return invalidate(evaluationId, scopeView(a[RAW_SCOPE_KIND]!, a[RAW_SCOPE_TARGET]!, a[RAW_REASON]!, a[RAW_EVALUATOR]!), observed)
  }
}
