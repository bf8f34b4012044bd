// guardAgentTools(): OpenAI Agents JS function tools (`tool({ name, parameters, execute })`
// from @openai/agents) with every call gated: the action is the tool's name (qualified by its
// namespace, `billing.refund`, when it has one), the params the numbers and strings of the input
// its `execute` receives. Structural types only, so importing kavach-sdk never needs @openai/agents.
//
// What is gated must be what runs. The model sends JSON text; the tool's own parser (its zod
// schema, with coercions and transforms) turns it into the value `execute` gets, so gating the
// raw JSON would judge `"5000"` while `execute` refunds 5000. The gate therefore judges the
// parsed value, and `execute` is handed that same object: the SDK's internal entry point
// (`@openai/agents-core/utils/internal`, the one its runner uses) parses the input with the
// tool's parser and attaches the result to the call's details, and the tool's `invoke` takes
// an attached parse instead of parsing again.
//
// The SDK finds a tool's parser by its `invoke` function, which the gated copy replaces, so its
// runner no longer knows the copy's parser and hands `needsApproval` the call's JSON as parsed
// by `JSON.parse`. A dynamic approval policy is therefore wrapped: it is given the value the
// tool's own parser makes of that JSON, as the runner gives it for the tool itself
// (`approvalWrapped`).

import { existsSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { pathToFileURL } from 'node:url'

import { gateArgument, optionalObjectArgument } from '../arguments.js'
import { InvalidArgumentError, excerpt, kindOf } from '../errors.js'
import type { Gate } from '../gate.js'
import { type Caller, currentCaller } from '../guarded.js'
import type { Verdict } from '../native.js'
import { forwardedParams, refusalOf, throwForModel, throwIfAborted, toolInput } from './refusal.js'
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

type Invoke = (this: unknown, runContext: AgentRunContextLike, input: string, details?: unknown) => Promise<unknown>
type NeedsApproval = (this: unknown, runContext: unknown, input: unknown, callId?: unknown) => Promise<boolean>

/** `FunctionToolPreparedInput` of @openai/agents-core: one input parsed by the tool's parser. */
interface PreparedInput {
  result: { success: true; value: unknown } | { success: false; error: unknown }
}

/** What gating uses of one build (CommonJS or ES module) of @openai/agents-core. */
interface AgentsSdk {
  /** The input parsed by the tool's own parser, or undefined for a tool this build did not make. */
  prepareFunctionToolInput(tool: object, input: string): PreparedInput | undefined
  /** Attaches a parse to the call's details; the tool's `invoke` then uses it instead of parsing. */
  setFunctionToolPreparedInput(details: object, prepared: PreparedInput): void
  /** False for a `needsApproval` this build's `tool()` made from a boolean (or its absence). */
  hasDynamicFunctionToolApprovalPolicy(tool: object): boolean
  /** Whether an approval input is a plain object a policy can read; the runner asks a human otherwise. */
  hasInspectableFunctionToolArguments(value: unknown): boolean
  /** `namespace.name` for a tool in a namespace (`toolNamespace`), else its name (`@openai/agents-core/utils`). */
  getFunctionToolDisplayName(tool: object): string | undefined
}

const INTERNAL = '@openai/agents-core/utils/internal'
const UTILS = '@openai/agents-core/utils'

function isSdk(m: unknown): m is AgentsSdk {
  const o = m as Record<keyof AgentsSdk, unknown> | null
  return (
    typeof o === 'object' &&
    o !== null &&
    typeof o.prepareFunctionToolInput === 'function' &&
    typeof o.setFunctionToolPreparedInput === 'function' &&
    typeof o.hasDynamicFunctionToolApprovalPolicy === 'function' &&
    typeof o.hasInspectableFunctionToolArguments === 'function' &&
    typeof o.getFunctionToolDisplayName === 'function'
  )
}

/** One build from its two entry points, or undefined when they lack what gating uses. */
function sdkOf(internal: unknown, utils: unknown): AgentsSdk | undefined {
  const sdk = { ...(internal as object), getFunctionToolDisplayName: (utils as { getFunctionToolDisplayName?: unknown }).getFunctionToolDisplayName }
  return isSdk(sdk) ? sdk : undefined
}

/** The file the `import` condition of the package's exports gives for `subpath` (`./utils/internal`). */
function esmEntry(cjsEntry: string, subpath: string): string | undefined {
  for (let dir = dirname(cjsEntry); dir !== dirname(dir); dir = dirname(dir)) {
    const manifest = join(dir, 'package.json')
    if (!existsSync(manifest)) continue
    const pkg = JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string; exports?: Record<string, { import?: unknown }> }
    if (pkg.name !== '@openai/agents-core') continue
    const target = pkg.exports?.[subpath]?.import
    return typeof target === 'string' ? join(dir, target) : undefined
  }
  return undefined
}

/** The builds loaded while `guardAgentTools` runs, and an ES module build only `import()` can load. */
interface LoadedBuilds {
  now: AgentsSdk[]
  later: Promise<AgentsSdk | undefined>
}

let loaded: LoadedBuilds | undefined

/**
 * Every build of @openai/agents-core. Its CommonJS and ES module builds are two module
 * instances, each knowing only the tools made through it (`require` or `import` of
 * @openai/agents), so both are loaded. Both load at once where Node can `require` an ES module
 * (20.19, 22.12 and later), which `guardAgentTools` needs to tell a dynamic approval policy
 * from a static one; elsewhere the ES module build is imported, for calls. agents-core is
 * resolved from @openai/agents, whose dependency it is (it need not be reachable from
 * kavach-sdk itself, as under pnpm).
 */
function agentsBuilds(): LoadedBuilds {
  if (loaded !== undefined) return loaded
  loaded = { now: [], later: Promise.resolve(undefined) }
  let req: NodeJS.Require
  let internalFile: string | undefined
  let utilsFile: string | undefined
  try {
    req = createRequire(require.resolve('@openai/agents'))
    const cjsEntry = req.resolve(INTERNAL)
    const cjs = sdkOf(req(INTERNAL), req(UTILS))
    if (cjs !== undefined) loaded.now.push(cjs)
    internalFile = esmEntry(cjsEntry, './utils/internal')
    utilsFile = esmEntry(cjsEntry, './utils')
  } catch {
    // @openai/agents is not installed (or too old to have these entry points): no tool can have been made by it.
    return loaded
  }
  if (internalFile === undefined || utilsFile === undefined) return loaded
  try {
    const esm = sdkOf(req(internalFile), req(utilsFile))
    if (esm !== undefined) loaded.now.push(esm)
  } catch {
    // This Node cannot require an ES module: the build is imported, for calls.
    const [i, u] = [pathToFileURL(internalFile).href, pathToFileURL(utilsFile).href]
    loaded.later = Promise.all([import(i), import(u)]).then(
      ([internal, utils]) => sdkOf(internal, utils),
      () => undefined,
    )
  }
  return loaded
}

/** Every build, the imported one included. */
async function allBuilds(): Promise<AgentsSdk[]> {
  const { now, later } = agentsBuilds()
  const esm = await later
  return esm === undefined ? now : [...now, esm]
}

/** The input of one call as `execute` will receive it, and the build that parsed it; undefined for a tool no build made. */
function prepared(builds: AgentsSdk[], tool: object, input: string): { prepared: PreparedInput; sdk: AgentsSdk } | undefined {
  for (const sdk of builds) {
    const p = sdk.prepareFunctionToolInput(tool, input)
    if (p !== undefined) return { prepared: p, sdk }
  }
  return undefined
}

/**
 * The action a call of `tool` is judged as: the name the SDK shows for it, `namespace.name` in a
 * namespace, so `billing.refund` and `crm.refund` are two actions. The namespace is read from the
 * tool object the runner calls, so it counts also when given after gating (`toolNamespace` of
 * gated tools).
 */
function actionOf(builds: AgentsSdk[], tool: AgentToolLike): string {
  for (const sdk of builds) {
    const shown = sdk.getFunctionToolDisplayName(tool)
    if (shown !== undefined && shown !== tool.name) return shown
  }
  return String(tool.name)
}

/**
 * The JSON text of a value `JSON.parse` made, parsing back to the same value (`JSON.stringify`
 * would write `-0` as `0` and an overflowed number as `null`).
 */
function jsonText(v: unknown): string {
  if (typeof v === 'number') {
    if (Object.is(v, -0)) return '-0'
    if (!Number.isFinite(v)) return v > 0 ? '1e999' : '-1e999'
    return String(v)
  }
  if (Array.isArray(v)) return `[${v.map(jsonText).join(',')}]`
  if (typeof v === 'object' && v !== null) {
    const fields = Object.keys(v).map((k) => `${JSON.stringify(k)}:${jsonText((v as Record<string, unknown>)[k])}`)
    return `{${fields.join(',')}}`
  }
  // Strings, booleans and null; `?? 'null'` only for what no JSON text gives (a function).
  return JSON.stringify(v) ?? 'null'
}

/**
 * `tool`'s `needsApproval`, or, for a dynamic policy, one that hands it the call's input as the
 * tool's parser makes it (a copy, as the SDK gives it), and asks for approval of a value that is
 * no plain object, as the runner does. The runner gives the gated copy the call's JSON parsed
 * by `JSON.parse` (or its text): written back as text, it is parsed as for the tool itself. An
 * input the parser rejects reaches the policy as the runner gives it, as without the gate. A
 * static policy (a boolean given to `tool()`) stays the same function, so the runner treats
 * the copy's as static too. A tool no build loaded now knows of (an ES module build Node could
 * not `require`) gets the wrapper: it is conservative, as the runner then asks a human, where a
 * static `false` would not, for a call whose input is not JSON or not a plain object.
 */
function approvalWrapped(tool: object): unknown {
  const policy = (tool as { needsApproval?: unknown }).needsApproval
  if (typeof policy !== 'function') return policy
  if (agentsBuilds().now.some((sdk) => !sdk.hasDynamicFunctionToolApprovalPolicy(tool))) return policy
  const decide = policy as NeedsApproval
  return async function needsApproval(this: unknown, runContext: unknown, input: unknown, callId?: unknown): Promise<boolean> {
    const text = typeof input === 'string' ? input : jsonText(input)
    const parsed = prepared(await allBuilds(), tool, text)
    if (parsed === undefined || !parsed.prepared.result.success) return decide.call(this, runContext, input, callId)
    const value = parsed.prepared.result.value
    if (!parsed.sdk.hasInspectableFunctionToolArguments(value)) return true
    return decide.call(this, runContext, value, callId)
  }
}

/**
 * The tool a gated `invoke` of `tool` was called on (its `this`), whose namespace names the
 * action: the runner calls `tool.invoke(...)` on the tool it resolved, a namespaced copy
 * perhaps, or the app's wrapper of the gated tool (`{ ...gated, invoke }` forwarding its
 * `this`). Any object named as `tool` is one; throws `InvalidArgumentError` for anything else.
 */
function calledTool(tool: AgentToolLike, self: unknown): AgentToolLike {
  const name = String(tool.name)
  const cannot = `cannot gate a call of tool '${excerpt(name)}': its invoke was called`
  const callIt = 'so the tool (and its namespace) is not known; call tool.invoke(...)'
  if (typeof self !== 'object' || self === null) throw new InvalidArgumentError(`${cannot} without a tool as 'this' (got ${kindOf(self)}), ${callIt}`)
  const calledName = (self as { name?: unknown }).name
  if (calledName !== tool.name) {
    const shown = typeof calledName === 'string' ? `a tool named '${excerpt(calledName)}'` : `an object without a tool name (name: ${kindOf(calledName)})`
    throw new InvalidArgumentError(`${cannot} with ${shown} as 'this', not '${excerpt(name)}', ${callIt}`)
  }
  return self as AgentToolLike
}

/**
 * Copies of `tools` with each function tool's `invoke` gated: the gate judges the input as the
 * tool's parser produced it, and `execute` runs, on that same value, only on Permit. An input
 * the parser rejects is refused (`INVALID_CONTEXT`). A tool that does not run in this process
 * (hosted tools, computer use) cannot be gated here: it throws `InvalidArgumentError` naming it
 * rather than passing ungated; so does a call of a function tool not made by `tool()`, and one
 * whose `invoke` is called on no object named as the tool (`calledTool`: the tool, and so its
 * namespace, is not known). A call whose abort signal (`details.signal`: the run's, or the tool's `timeoutMs`)
 * fired while the gate decided rejects with the signal's reason, and `execute` does not start.
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
    const gated: Invoke = async function (this: unknown, runContext, input, details) {
      const called = calledTool(t, this)
      const builds = await allBuilds()
      const action = actionOf(builds, called)
      const caller = callerFor(runContext)
      if (caller === undefined) {
        const reason = `no caller for '${action}': pass options.caller or use runAs(caller, fn)`
        return refused(refuseUnevaluated(gate, 'INVALID_CONTEXT', 'guarded', reason, { actionName: action }))
      }
      const parse = prepared(builds, t, input)
      if (parse === undefined) {
        // Without the tool's parser the gate cannot see what execute would get: refuse to run it.
        throw new InvalidArgumentError(
          `cannot gate tool '${String(t.name)}': it was not made by tool() of the @openai/agents that kavach-sdk resolves (a hand-built tool, or another copy of @openai/agents), so the input its execute receives cannot be known`,
        )
      }
      const { prepared: parsed, sdk } = parse
      if (!parsed.result.success) {
        // The parser's message (zod issues, JSON syntax) tells the model what to fix; on one line.
        const why = (parsed.result.error instanceof Error ? parsed.result.error.message : String(parsed.result.error)).replace(/\s+/g, ' ')
        const reason = `the input of '${action}' does not match its parameters: ${why}`
        return refused(refuseUnevaluated(gate, 'INVALID_CONTEXT', 'guarded', reason, contextFacts({ ...caller, actionName: action })))
      }
      // The params are copied out of the parsed value now, and that value is the one attached.
      const params = forwardedParams(gate, toolInput(action, parsed.result.value))
      if ('refusal' in params) return refused(refuseUnevaluated(gate, 'INVALID_CONTEXT', 'guarded', params.refusal, contextFacts({ ...caller, actionName: action })))
      const v = await gate.evaluateAsync({ ...caller, actionName: action, params: params.params })
      // The runner has given up on a call whose signal fired meanwhile (a timeout, a cancelled run).
      throwIfAborted((details as { signal?: unknown } | undefined)?.signal)
      if (!v.isPermit) return refused(v)
      // The details object is the key the parse is attached under; a direct call may have none.
      const callDetails = typeof details === 'object' && details !== null ? details : {}
      sdk.setFunctionToolPreparedInput(callDetails, parsed)
      return await run.call(t, runContext, input, callDetails)
    }
    const copy: Record<string, unknown> = { ...t, invoke: gated }
    if ('needsApproval' in t) copy.needsApproval = approvalWrapped(t)
    return copy as unknown as T
  })
}
