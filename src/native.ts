// The one import of the generated napi loader for the foundation layer.
export { Gate as NativeGate, evaluateFast, evaluateSubmit, flushSubmitted } from '../binding.js'
export type { EvaluateOptions, GateOptions, LiftScope, ObservedVerdict, PermitTokenView, ScopeView, Verdict } from '../binding.js'
