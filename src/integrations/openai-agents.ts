// guardAgentTools(): OpenAI Agents JS function tools (`tool({ name, parameters, execute })`
// from @openai/agents) with every call gated: the action is the tool's name, the params the
// numbers and strings of the input its `execute` receives. Structural types only, so importing
// kavach-sdk never needs @openai/agents.
//
// What is gated must be what runs. The model sends JSON text; the tool's own parser (its zod
// schema, with coercions and transforms) turns it into the value `execute` gets, so gating the
// raw JSON would judge `"5000"` while `execute` refunds 5000. The gate therefore judges the
// parsed value, and `execute` is handed that same object: the SDK's internal entry point
// (`@openai/agents-core/utils/internal`, the one its runner uses) parses the input with the
// tool's parser and attaches the result to the call's details, and the tool's `invoke` takes
// an attached parse instead of parsing again.

import { existsSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { pathToFileURL } from 'node:url'

import { gateArgument, optionalObjectArgument } from '../arguments.js'
import { InvalidArgumentError, kindOf } from '../errors.js'
import type { Gate } from '../gate.js'
import { type Caller, currentCaller } from '../guarded.js'
import type { Verdict } from '../native.js'
import { forwardedParams, refusalOf, throwForModel, toolInput } from './refusal.js'
import { contextFacts, refuseUnevaluated } from './unevaluated.js'

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

/** `FunctionToolPreparedInput` of @openai/agents-core: one input parsed by the tool's parser. */
interface PreparedInput {
  result: { success: true; value: unknown } | { success: false; error: unknown }
}

/** The two functions of `@openai/agents-core/utils/internal` that gating uses. */
interface AgentsInternals {
  /** The input parsed by the tool's own parser, or undefined for a tool this copy did not make. */
  prepareFunctionToolInput(tool: object, input: string): PreparedInput | undefined
  /** Attaches a parse to the call's details; the tool's `invoke` then uses it instead of parsing. */
  setFunctionToolPreparedInput(details: object, prepared: PreparedInput): void
}

const INTERNAL = '@openai/agents-core/utils/internal'

function isInternals(m: unknown): m is AgentsInternals {
  const o = m as Partial<AgentsInternals> | null
  return typeof o === 'object' && o !== null && typeof o.prepareFunctionToolInput === 'function' && typeof o.setFunctionToolPreparedInput === 'function'
}

/** The file the `import` condition of the package's exports gives for `./utils/internal`. */
function esmEntry(cjsEntry: string): string | undefined {
  for (let dir = dirname(cjsEntry); dir !== dirname(dir); dir = dirname(dir)) {
    const manifest = join(dir, 'package.json')
    if (!existsSync(manifest)) continue
    const pkg = JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string; exports?: Record<string, { import?: unknown }> }
    if (pkg.name !== '@openai/agents-core') continue
    const target = pkg.exports?.['./utils/internal']?.import
    return typeof target === 'string' ? join(dir, target) : undefined
  }
  return undefined
}

let internals: Promise<AgentsInternals[]> | undefined

/**
 * Every loaded build of the SDK's internal entry point. Its CommonJS and ES module builds are
 * two module instances, each knowing only the tools made through it (`require` or `import` of
 * @openai/agents), so both are loaded. agents-core is resolved from @openai/agents, whose
 * dependency it is (it need not be reachable from kavach-sdk itself, as under pnpm).
 */
function agentsInternals(): Promise<AgentsInternals[]> {
  internals ??= (async () => {
    const found: unknown[] = []
    let cjsEntry: string | undefined
    try {
      const fromAgents = createRequire(require.resolve('@openai/agents'))
      cjsEntry = fromAgents.resolve(INTERNAL)
      found.push(fromAgents(cjsEntry))
    } catch {
      // @openai/agents is not installed: no tool can have been made by it.
    }
    try {
      const esm = cjsEntry === undefined ? undefined : esmEntry(cjsEntry)
      if (esm !== undefined) found.push(await import(pathToFileURL(esm).href))
    } catch {
      // no ES module build: only the CommonJS one can have made tools
    }
    return found.filter(isInternals)
  })()
  return internals
}

/** The input of one call as `execute` will receive it, and the SDK build that parsed it. */
async function prepare(tool: AgentToolLike, input: string): Promise<{ prepared: PreparedInput; sdk: AgentsInternals }> {
  for (const sdk of await agentsInternals()) {
    const prepared = sdk.prepareFunctionToolInput(tool, input)
    if (prepared !== undefined) return { prepared, sdk }
  }
  // Without the tool's parser the gate cannot see what execute would get: refuse to run it.
  throw new InvalidArgumentError(
    `cannot gate tool '${String(tool.name)}': it was not made by tool() of the @openai/agents that kavach-sdk resolves (a hand-built tool, or another copy of @openai/agents), so the input its execute receives cannot be known`,
  )
}

/**
 * Copies of `tools` with each function tool's `invoke` gated: the gate judges the input as the
 * tool's parser produced it, and `execute` runs, on that same value, only on Permit. An input
 * the parser rejects is refused (`INVALID_CONTEXT`). A tool that does not run in this process
 * (hosted tools, computer use) cannot be gated here: it throws `InvalidArgumentError` naming it
 * rather than passing ungated; so does a call of a function tool not made by `tool()`.
 */
export function guardAgentTools<T extends AgentToolLike>(gate: Gate, tools: readonly T[], options: GuardAgentToolsOptions = {}): T[] {
  gateArgument('guardAgentTools', gate)
  if (!Array.isArray(tools)) throw new InvalidArgumentError(`guardAgentTools: tools must be an array of tools (got ${kindOf(tools)})`)
  options = optionalObjectArgument('guardAgentTools', 'options', options) ?? {}
  const onRefuse = options.onRefuse ?? 'result'
  const callerFor = (runContext: AgentRunContextLike): Caller | undefined => {
    const c = options.caller
    return typeof c === 'function' ? c(runContext) : (c ?? currentCaller())
  }

  return tools.map((t) => {
    const invoke = (t as unknown as { invoke?: unknown }).invoke
    if (t.type !== 'function' || typeof invoke !== 'function') {
      throw new InvalidArgumentError(`cannot gate tool '${String(t.name)}' of type '${String(t.type)}': only function tools run in this process`)
    }
    const run = invoke as Invoke
    const refused = (v: Verdict): unknown => {
      if (onRefuse === 'throw') throwForModel(v)
      return refusalOf(v)
    }
    const gated: Invoke = async (runContext, input, details) => {
      const caller = callerFor(runContext)
      if (caller === undefined) {
        const reason = `no caller for '${t.name}': pass options.caller or use runAs(caller, fn)`
        return refused(refuseUnevaluated(gate, 'INVALID_CONTEXT', 'guarded', reason, { actionName: t.name }))
      }
      const { prepared, sdk } = await prepare(t, input)
      if (!prepared.result.success) {
        // The parser's message (zod issues, JSON syntax) tells the model what to fix; on one line.
        const why = (prepared.result.error instanceof Error ? prepared.result.error.message : String(prepared.result.error)).replace(/\s+/g, ' ')
        const reason = `the input of '${t.name}' does not match its parameters: ${why}`
        return refused(refuseUnevaluated(gate, 'INVALID_CONTEXT', 'guarded', reason, contextFacts({ ...caller, actionName: t.name })))
      }
      // The params are copied out of the parsed value now, and that value is the one attached.
      const params = forwardedParams(gate, toolInput(t.name, prepared.result.value))
      if ('refusal' in params) return refused(refuseUnevaluated(gate, 'INVALID_CONTEXT', 'guarded', params.refusal, contextFacts({ ...caller, actionName: t.name })))
      const v = await gate.evaluateAsync({ ...caller, actionName: t.name, params: params.params })
      if (!v.isPermit) return refused(v)
      // The details object is the key the parse is attached under; a direct call may have none.
      const callDetails = typeof details === 'object' && details !== null ? details : {}
      sdk.setFunctionToolPreparedInput(callDetails, prepared)
      return await run.call(t, runContext, input, callDetails)
    }
    return { ...t, invoke: gated }
  })
}
