// Verdict types, and the one conversion of the native hot path's flat array into a `Verdict`
// object (positions defined in crates/kavach-node/src/verdict.rs, module `raw`). Data shaping
// only: every decision was made in Rust.

import type { NativeGate, ObservedVerdict, Verdict } from './native.js'

/** Refuse codes the gate returns (`verdict.code`), as declared by the native binding. */
export type RefuseCode = NonNullable<Verdict['code']>

export type { Verdict }

/** What `evaluateRaw` returns. */
export type RawVerdict = ReturnType<NativeGate['evaluateRaw']>

function decision(a: RawVerdict, evaluationId: string): ObservedVerdict {
  switch (a[0]) {
    case 0: {
      const tokenId = a[5]!
      const signature = a[10]
      const token = { tokenId, evaluationId: a[6] ?? evaluationId, issuedAt: a[7]!, expiresAt: a[8]!, actionName: a[9]! }
      // Two literal shapes (with / without a signature) keep the objects' hidden classes stable.
      return signature === undefined
        ? { kind: 'permit', isPermit: true, isRefuse: false, isInvalidate: false, tokenId, permitToken: { ...token, observeOnly: a[11] === true } }
        : { kind: 'permit', isPermit: true, isRefuse: false, isInvalidate: false, tokenId, permitToken: { ...token, signature, observeOnly: a[11] === true }, signature }
    }
    case 1:
      return { kind: 'refuse', isPermit: false, isRefuse: true, isInvalidate: false, code: a[2], evaluator: a[3], reason: a[4] }
    default:
      return {
        kind: 'invalidate',
        isPermit: false,
        isRefuse: false,
        isInvalidate: true,
        code: a[2],
        evaluator: a[3],
        reason: a[4],
        scope: { targetKind: a[12]!, targetId: a[13]!, reason: a[4]!, evaluator: a[3]! },
      }
  }
}

/** The native flat array as a `Verdict`. */
export function fromRaw(a: RawVerdict): Verdict {
  const evaluationId = a[1]
  const v = decision(a, evaluationId) as Verdict
  v.evaluationId = evaluationId
  if (a[14] !== undefined) v.observed = decision(a[14] as RawVerdict, evaluationId)
  return v
}
