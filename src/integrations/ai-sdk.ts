// guardTools(): a Vercel AI SDK tool record (`{ description, inputSchema, execute }` per key)
// with every `execute` gated: the action is the tool's key, the params its input's numbers
// and strings. Structural types only, so importing kavach-sdk never needs `ai`.

import { gateArgument, objectArgument, optionalObjectArgument } from '../arguments.js'
import { throwUnlessPermit } from '../errors.js'
import type { Gate } from '../gate.js'
import { type Caller, currentCaller } from '../guarded.js'
import type { Verdict } from '../native.js'
import { forwardedParams, refusalOf, toolInput, type ToolRefusal } from './refusal.js'
import { contextFacts, refuseUnevaluated } from './unevaluated.js'

export interface GuardToolsOptions {
  /** Who calls the tools; without it, the caller set by `runAs` at call time. */
  caller?: Caller
  /**
   * `'result'`: a refused `execute` returns `{ refused: true, code, reason }` for the model to
   * read. `'throw'`: it throws `Refused` / `Invalidated` (the AI SDK reports a tool error).
   * @default 'result'
   */
  onRefuse?: 'result' | 'throw'
}

type Execute = (input: unknown, options: unknown) => unknown

/** True for what a refused tool returns (with `onRefuse: 'result'`). */
export function isToolRefusal(output: unknown): output is ToolRefusal {
  return typeof output === 'object' && output !== null && (output as { refused?: unknown }).refused === true
}

/**
 * The same record with each `execute` gated (tools without `execute` are left as they are).
 * A refused call's output is a `ToolRefusal` (or a throw): the tool's function does not run.
 */
export function guardTools<T extends Record<string, object>>(gate: Gate, tools: T, options: GuardToolsOptions = {}): T {
  gateArgument('guardTools', gate)
  objectArgument('guardTools', 'tools', tools, 'a record of tools')
  options = optionalObjectArgument('guardTools', 'options', options) ?? {}
  const onRefuse = options.onRefuse ?? 'result'
  const verdictFor = (action: string, input: unknown): Promise<Verdict> => {
    const caller = options.caller ?? currentCaller()
    if (caller === undefined) {
      const reason = `no caller for '${action}': pass options.caller or use runAs(caller, fn)`
      return Promise.resolve(refuseUnevaluated(gate, 'INVALID_CONTEXT', 'guarded', reason, { actionName: action }))
    }
    const params = forwardedParams(gate, toolInput(action, input))
    if ('refusal' in params) return Promise.resolve(refuseUnevaluated(gate, 'INVALID_CONTEXT', 'guarded', params.refusal, contextFacts({ ...caller, actionName: action })))
    return gate.evaluateAsync({ ...caller, actionName: action, params: params.params })
  }
  const refused = (v: Verdict): ToolRefusal => {
    if (onRefuse === 'throw') throwUnlessPermit(v)
    return refusalOf(v)
  }

  const out: Record<string, object> = {}
  for (const [name, tool] of Object.entries(tools)) {
    const execute = (tool as { execute?: unknown }).execute
    if (typeof execute !== 'function') {
      out[name] = tool
      continue
    }
    const run = execute as Execute
    // A streaming tool (async generator) stays one, so the SDK still sees its preliminary outputs.
    const gated = Object.prototype.toString.call(run) === '[object AsyncGeneratorFunction]'
      ? async function* (this: unknown, input: unknown, opts: unknown): AsyncGenerator<unknown> {
          const v = await verdictFor(name, input)
          if (!v.isPermit) {
            yield refused(v)
            return
          }
          yield* run.call(this, input, opts) as AsyncIterable<unknown>
        }
      : async function (this: unknown, input: unknown, opts: unknown): Promise<unknown> {
          const v = await verdictFor(name, input)
          if (!v.isPermit) return refused(v)
          return await run.call(this, input, opts)
        }
    out[name] = { ...tool, execute: gated }
  }
  return out as T
}
