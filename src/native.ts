// The one import of the generated napi loader for the foundation layer.
import { Gate, evaluateSubmit as submit, fastEvaluator, flushSubmitted as flush, internName as intern } from '../binding.js'

export type { AnalyzeOptions, EvaluateOptions, ExplainCheck, ExplainStep, Explanation, GateOptions, LiftScope, ObservedVerdict, PolicyFinding, PermitTokenView, RevokeScope, ScopeView, UnevaluatedVerdict, Verdict } from '../binding.js'

// Constants, not re-exports: CommonJS compiles a re-export to a getter, and redefining a
// property as a getter turns this module's exports object into a dictionary, so each use on
// the evaluation path would be a function call after a hash lookup.
export const NativeGate: typeof Gate = Gate
export type NativeGate = Gate
/** `gate.evaluate`'s native hot path (crates/kavach-node/src/fast.rs), created once at load. */
export const evaluateFast = fastEvaluator()
export const evaluateSubmit: typeof submit = submit
export const flushSubmitted: typeof flush = flush
export const internName: typeof intern = intern
