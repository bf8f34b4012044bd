// The one import of the generated napi loader for the foundation layer.
export { Gate as NativeGate, evaluateFast, evaluateSubmit, flushSubmitted } from '../binding.js'
export type { AnalyzeOptions, EvaluateOptions, ExplainCheck, ExplainStep, Explanation, GateOptions, LiftScope, ObservedVerdict, PolicyFinding, PermitTokenView, RevokeScope, ScopeView, Verdict } from '../binding.js'
