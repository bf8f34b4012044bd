// Generated from crates/kavach-node/src/layout.rs: do not edit. Regenerate with
// `KAVACH_WRITE_GENERATED=1 cargo test -p kavach-node --lib layout`; `npm run check:generated`
// checks it is current.

/** Verdict kinds (the `KIND` slot of every encoding; `verdict.rs` `kind`). */
export const KIND_PERMIT = 0
export const KIND_REFUSE = 1
export const KIND_INVALIDATE = 2

/** Positions of the fast path's inputs in the scratch array (`layout.rs` `fast_in`). */
export const FAST_IN_KIND = 0
export const FAST_IN_PARAM_COUNT = 1
export const FAST_IN_ID_LEN = 2
export const FAST_IN_ACTION_LEN = 3
export const FAST_IN_TEXT_LEN = 4
export const FAST_IN_ROLE_COUNT = 5
export const FAST_IN_ROLES = 6
export const FAST_IN_MAX_ROLES = 8
export const FAST_IN_PARAMS = 14
export const FAST_IN_STRIDE = 3
export const FAST_IN_MAX_PARAMS = 8
export const FAST_IN_SCRATCH_LEN = 38
export const FAST_IN_MAX_NAMES = 0x400
export const FAST_IN_MAX_NAME_UNITS = 64

/** The core's bounds on a context (`layout.rs` `context_limits`). */
export const CONTEXT_MAX_ROLES = 0x100

/** The audit chain reader's bound on one line of a chain file (`layout.rs` `audit_limits`). */
export const AUDIT_MAX_LINE_BYTES = 0x19034b4

/** Positions of the fast path's numbers (`verdict.rs` `fast_out`). */
export const FAST_OUT_KIND = 0
export const FAST_OUT_ISSUED_AT = 1
export const FAST_OUT_EXPIRES_AT = 2
export const FAST_OUT_OBSERVE_ONLY = 3
export const FAST_OUT_CODE = 1
export const FAST_OUT_EVALUATOR_LEN = 2
export const FAST_OUT_REASON_LEN = 3
export const FAST_OUT_SCOPE_KIND = 4
export const FAST_OUT_LEN = 5

/** Positions in the raw verdict array (`verdict.rs` `raw`). */
export const RAW_KIND = 0
export const RAW_EVALUATION_ID = 1
export const RAW_CODE = 2
export const RAW_EVALUATOR = 3
export const RAW_REASON = 4
export const RAW_TOKEN_ID = 5
export const RAW_TOKEN_EVALUATION_ID = 6
export const RAW_ISSUED_AT = 7
export const RAW_EXPIRES_AT = 8
export const RAW_ACTION_NAME = 9
export const RAW_SIGNATURE = 10
export const RAW_OBSERVE_ONLY = 11
export const RAW_SCOPE_KIND = 12
export const RAW_SCOPE_TARGET = 13
export const RAW_OBSERVED = 14
export const RAW_LEN = 15

/** An `evaluateAsync` completion batch entry (`dispatch.rs` `batch`): code-unit offsets in its header, and its special kinds. */
export const BATCH_ID = 0
export const BATCH_KIND = 2
export const BATCH_SLOTS = 3
export const BATCH_SLOT_UNITS = 3
export const BATCH_TEXT_LEN = 15
export const BATCH_HEADER = 17
export const BATCH_RAW = 0xffff
export const BATCH_FAILED = 0xfffe

/** Principal kinds by number (`FAST_IN_KIND`). */
export const PRINCIPAL_KINDS = ['user', 'agent', 'service', 'scheduler', 'external'] as const

/** Refuse codes by number (`FAST_OUT_CODE`). */
export const REFUSE_CODES = ['NO_POLICY_MATCH', 'POLICY_DENIED', 'RATE_LIMIT_EXCEEDED', 'INVARIANT_VIOLATION', 'DRIFT_DETECTED', 'SESSION_INVALID', 'IDENTITY_FAILED', 'STORE_UNAVAILABLE', 'AUDIT_FAILED', 'INVALID_CONTEXT'] as const

/** Scope kinds by number (`FAST_OUT_SCOPE_KIND`). */
export const SCOPE_KINDS = ['session', 'principal', 'role'] as const

/** The audit trail's principal for a caller nobody identified (`kavach_core::UNIDENTIFIED_PRINCIPAL`). */
export const UNIDENTIFIED_PRINCIPAL = '(unidentified)'

/** A principal kind's number (`FAST_IN_KIND`), or -1 for anything else. */
export function principalKindIndex(kind: string): number {
  switch (kind) {
    case 'user':
      return 0
    case 'agent':
      return 1
    case 'service':
      return 2
    case 'scheduler':
      return 3
    case 'external':
      return 4
    default:
      return -1
  }
}
