// The one import of the generated napi loader for the foundation layer.
import { fastEvaluator } from '../binding.js'

export { Gate as NativeGate, evaluateSubmit, flushSubmitted } from '../binding.js'
export type { AnalyzeOptions, EvaluateOptions, ExplainCheck, ExplainStep, Explanation, GateOptions, LiftScope, ObservedVerdict, PolicyFinding, PermitTokenView, RevokeScope, ScopeView, Verdict } from '../binding.js'

/** `gate.evaluate`'s native hot path (crates/kavach-node/src/fast.rs), created once at load. */
export const evaluateFast = fastEvaluator()
