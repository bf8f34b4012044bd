// Verdict types, and the conversions of the native hot path's answers into `Verdict` objects:
// the fast path's string + shared numbers (`fromFast`, and `fromFastAt` for evaluateAsync
// batches; layout `fast_out` in
// crates/kavach-node/src/verdict.rs) and the general flat array (`fromRaw`, module `raw`
// there). Data shaping only: every decision was made in Rust.
//
// Every verdict is built by ONE object literal with all fields, in one order, absent ones
// `undefined` (no spreads, no properties added later): V8 then gives all verdicts one hidden
// class and the literal costs a few stores.

import type { NativeGate, ObservedVerdict, PermitTokenView, ScopeView, Verdict } from './native.js'

/** Refuse codes the gate returns (`verdict.code`), as declared by the native binding. */
export type RefuseCode = NonNullable<Verdict['code']>

export type { Verdict }

/** What `evaluateRaw` returns. */
export type RawVerdict = ReturnType<NativeGate['evaluateRaw']>

/** Positions as `code_index` in crates/kavach-node/src/verdict.rs. */
const REFUSE_CODES: readonly RefuseCode[] = [
  'NO_POLICY_MATCH',
  'POLICY_DENIED',
  'RATE_LIMIT_EXCEEDED',
  'INVARIANT_VIOLATION',
  'DRIFT_DETECTED',
  'SESSION_INVALID',
  'IDENTITY_FAILED',
  'STORE_UNAVAILABLE',
  'AUDIT_FAILED',
  'INVALID_CONTEXT',
]
const SCOPE_KINDS: readonly ScopeView['targetKind'][] = ['session', 'principal', 'role']

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
 * its text is `text[start, end)`, its numbers start at `s[o]`, and a permit's action name
 * ends its text when `actionName` is undefined.
 */
export function fromFastAt(text: string, start: number, end: number, s: Float64Array, o: number, actionName: string | undefined): Verdict {
  const b = start + ID_LEN
  const evaluationId = text.slice(start, b)
  switch (s[o]) {
    case 0:
      return permit(
        evaluationId,
        token(text.slice(b, b + ID_LEN), evaluationId, s[o + 1]!, s[o + 2]!, actionName ?? text.slice(b + ID_LEN, end), undefined, s[o + 3] === 1),
        undefined,
      )
    case 1: {
      const e = b + s[o + 2]!
      return refuse(evaluationId, REFUSE_CODES[s[o + 1]!], text.slice(b, e), text.slice(e, end), undefined)
    }
    default: {
      const e = b + s[o + 2]!
      const r = e + s[o + 3]!
      return invalidate(evaluationId, scopeView(SCOPE_KINDS[s[o + 4]!]!, text.slice(r, end), text.slice(e, r), text.slice(b, e)), undefined)
    }
  }
}

/** The would-be verdict of an observe-only gate (a verdict without `evaluationId`/`observed`). */
function observedOf(a: RawVerdict, evaluationId: string): ObservedVerdict {
  switch (a[0]) {
    case 0: {
      const t = token(a[5]!, a[6] ?? evaluationId, a[7]!, a[8]!, a[9]!, a[10], a[11] === true)
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
    case 1:
      return {
        kind: 'refuse',
        isPermit: false,
        isRefuse: true,
        isInvalidate: false,
        code: a[2],
        evaluator: a[3],
        reason: a[4],
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
        code: a[2],
        evaluator: a[3],
        reason: a[4],
        tokenId: undefined,
        permitToken: undefined,
        signature: undefined,
        scope: scopeView(a[12]!, a[13]!, a[4]!, a[3]!),
      }
  }
}

/** The native flat array as a `Verdict`. */
export function fromRaw(a: RawVerdict): Verdict {
  const evaluationId = a[1]
  const observed = a[14] === undefined ? undefined : observedOf(a[14] as RawVerdict, evaluationId)
  switch (a[0]) {
    case 0:
      return permit(evaluationId, token(a[5]!, a[6] ?? evaluationId, a[7]!, a[8]!, a[9]!, a[10], a[11] === true), observed)
    case 1:
      return refuse(evaluationId, a[2], a[3]!, a[4]!, observed)
    default:
      return invalidate(evaluationId, scopeView(a[12]!, a[13]!, a[4]!, a[3]!), observed)
  }
}
