// guardAgentTools(): OpenAI Agents JS function tools (`tool({ name, parameters, execute })`
// from @openai/agents) with every call gated: the action is the tool's name, the params the
// numbers and strings of its JSON input. Structural types only, so importing kavach-sdk never
// needs @openai/agents.

import { InvalidArgumentError, throwUnlessPermit } from '../errors.js'
import type { Gate } from '../gate.js'
import { type Caller, currentCaller } from '../guarded.js'
import type { Verdict } from '../native.js'
import { refusalOf, refuseVerdict, scalarFields } from './refusal.js'

/** An Agents SDK tool, as far as gating needs it (`FunctionTool` has `type: 'function'` and `invoke`). */
export interface AgentToolLike {
  type: string
  name: string
}

/** The run context the Agents SDK passes to `invoke` (`RunContext`: the app's `context`). */
export interface AgentRunContextLike {
  context?: unknown
}

export interface GuardAgentToolsOptions {
  /**
   * Who calls the tools: a caller, or a function of the run context (the app's `context` object
   * given to `run(agent, input, { context })`). Without it, the caller set by `runAs`.
   */
  caller?: Caller | ((runContext: AgentRunContextLike) => Caller | undefined)
  /**
   * `'result'`: a refused call returns `{ refused: true, code, reason }` as the tool's output for
   * the model. `'throw'`: it throws `Refused` / `Invalidated`, which ends the run.
   * @default 'result'
   */
  onRefuse?: 'result' | 'throw'
}

type Invoke = (runContext: AgentRunContextLike, input: string, details?: unknown) => Promise<unknown>

/**
 * Copies of `tools` with each function tool's `invoke` gated (the tool's `execute` runs only on
 * Permit). A tool that does not run in this process (hosted tools, computer use) cannot be
 * gated here: it throws `InvalidArgumentError` naming it rather than passing ungated.
 */
export function guardAgentTools<T extends AgentToolLike>(gate: Gate, tools: readonly T[], options: GuardAgentToolsOptions = {}): T[] {
  const onRefuse = options.onRefuse ?? 'result'
  const callerFor = (runContext: AgentRunContextLike): Caller | undefined => {
    const c = options.caller
    return typeof c === 'function' ? c(runContext) : (c ?? currentCaller())
  }
  const verdictFor = (name: string, runContext: AgentRunContextLike, input: string): Promise<Verdict> => {
    const caller = callerFor(runContext)
    if (caller === undefined) {
      return Promise.resolve(refuseVerdict('INVALID_CONTEXT', 'guarded', `no caller for '${name}': pass options.caller or use runAs(caller, fn)`))
    }
    let parsed: unknown
    try {
      parsed = input === '' ? {} : JSON.parse(input)
    } catch {
      return Promise.resolve(refuseVerdict('INVALID_CONTEXT', 'guarded', `the input of '${name}' is not JSON`))
    }
    return gate.evaluateAsync({ ...caller, actionName: name, params: scalarFields(parsed) })
  }

  return tools.map((t) => {
    const invoke = (t as unknown as { invoke?: unknown }).invoke
    if (t.type !== 'function' || typeof invoke !== 'function') {
      throw new InvalidArgumentError(`cannot gate tool '${String(t.name)}' of type '${String(t.type)}': only function tools run in this process`)
    }
    const run = invoke as Invoke
    const gated: Invoke = async (runContext, input, details) => {
      const v = await verdictFor(t.name, runContext, input)
      if (!v.isPermit) {
        if (onRefuse === 'throw') throwUnlessPermit(v)
        return refusalOf(v)
      }
      return await run.call(t, runContext, input, details)
    }
    return { ...t, invoke: gated }
  })
}
