// guardTools(): a Vercel AI SDK tool record (`{ description, inputSchema, execute }` per key)
// with every `execute` gated: the action is the tool's key, the params its input's numbers
// and strings. Structural types only, so importing kavach-sdk never needs `ai`.

import { gateArgument, objectArgument, optionalObjectArgument } from '../arguments.js'
import type { Gate } from '../gate.js'
import { type Caller, currentCaller } from '../guarded.js'
import type { Verdict } from '../native.js'
import { forwardedParams, refusalOf, throwForModel, throwIfAborted, toolInput, type ToolRefusal } from './refusal.js'
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
 * A refused call's output is a `ToolRefusal` (or a throw): the tool's function does not run,
 * and the tool's `toModelOutput` does not format it (`refusalBypassed`). A call whose
 * `abortSignal` fired while the gate decided rejects with the signal's reason, and the tool's
 * function does not start.
 */
export function guardTools<T extends Record<string, object>>(gate: Gate, tools: T, options: GuardToolsOptions = {}): T {
  gateArgument('guardTools', gate)
  objectArgument('guardTools', 'tools', tools, 'a record of tools')
  options = optionalObjectArgument('guardTools', 'options', options) ?? {}
  const onRefuse = options.onRefuse ?? 'result'
  // A gate without network stores answers `evaluate` synchronously, so a tool can be called
  // right after its check and its return handed on as it is (`gatedExecute`). With a token
  // signer or an audit chain, that check signs or writes on the event loop: tool calls are few.
  const inline = gate.supportsSync
  /** The verdict, or a refusal of a call the gate cannot be given. */
  const verdictFor = (action: string, input: unknown, sync: boolean): Verdict | Promise<Verdict> => {
    const caller = options.caller ?? currentCaller()
    if (caller === undefined) {
      const reason = `no caller for '${action}': pass options.caller or use runAs(caller, fn)`
      return refuseUnevaluated(gate, 'INVALID_CONTEXT', 'guarded', reason, { actionName: action })
    }
    const params = forwardedParams(gate, toolInput(action, input))
    if ('refusal' in params) return refuseUnevaluated(gate, 'INVALID_CONTEXT', 'guarded', params.refusal, contextFacts({ ...caller, actionName: action }))
    const ctx = { ...caller, actionName: action, params: params.params }
    return sync ? gate.evaluate(ctx) : gate.evaluateAsync(ctx)
  }
  // The refusals these tools returned: only those skip the app's `toModelOutput`.
  const refusals = new WeakSet<object>()
  const refused = (v: Verdict): ToolRefusal => {
    if (onRefuse === 'throw') throwForModel(v)
    const refusal = refusalOf(v)
    refusals.add(refusal)
    return refusal
  }

  const out: Record<string, object> = {}
  for (const [name, tool] of Object.entries(tools)) {
    const execute = (tool as { execute?: unknown }).execute
    if (typeof execute !== 'function') {
      out[name] = tool
      continue
    }
    const gated: Record<string, unknown> = { ...tool, execute: gatedExecute(name, execute as Execute, verdictFor, refused, inline) }
    const toModelOutput = (tool as { toModelOutput?: unknown }).toModelOutput
    if (typeof toModelOutput === 'function') gated.toModelOutput = refusalBypassed(toModelOutput as ToModelOutput, refusals)
    out[name] = gated
  }
  return out as T
}

type ToModelOutput = (this: unknown, options: { output?: unknown }) => unknown

/**
 * The tool's `toModelOutput`, which formats the tool's own outputs, except for a refusal: the
 * model reads that as JSON (`{ refused: true, code, reason }`), what the SDK makes of an object
 * output without a formatter. The app's formatter would describe a refusal as its success (or
 * throw, reading fields a refusal lacks). Only a refusal in `refusals` (one the gate made; the
 * SDK hands `toModelOutput` the object `execute` returned) is bypassed: an output of the tool
 * itself that has `refused: true` (a declined card payment) is the app's to format, and may
 * hold what the formatter keeps from the model.
 */
function refusalBypassed(format: ToModelOutput, refusals: WeakSet<object>): ToModelOutput {
  return function (this: unknown, options) {
    const output = typeof options === 'object' && options !== null ? options.output : undefined
    if (typeof output === 'object' && output !== null && refusals.has(output)) return { type: 'json', value: output }
    return format.call(this, options)
  }
}

/** The abort signal the SDK passes `execute` (`{ abortSignal }`), if any. */
function signalOf(opts: unknown): unknown {
  return typeof opts === 'object' && opts !== null ? (opts as { abortSignal?: unknown }).abortSignal : undefined
}

type VerdictFor = (action: string, input: unknown, sync: boolean) => Verdict | Promise<Verdict>

/**
 * `run` gated as `name`, returning what the SDK expects of it. The SDK streams a tool whose
 * `execute` returns an async iterable directly (its items are preliminary outputs, the last
 * the output) and awaits anything else, a Promise of an async iterable included (a paginated
 * page, a stream: that is the output as it is). It decides on what the call returns before
 * the gate could answer asynchronously. So:
 * - an `async function*` stays one, and checks before its first item;
 * - an `async function` returns a Promise anyway, and is awaited after the check: what it
 *   resolves to is the output, as without the gate;
 * - any other function may return either: with a gate that supports `evaluate` (no network
 *   stores) it is checked synchronously and its return handed on as it is; otherwise the gated
 *   call returns a Promise, and an async iterable the tool returns directly is read after the
 *   check, its last item the output (the SDK's own final output; the preliminary ones are not
 *   seen).
 * In each, a call whose abort signal fired by the time the gate answers rejects (or throws) with
 * the signal's reason before the tool starts: the SDK has given up on it.
 */
function gatedExecute(name: string, run: Execute, verdictFor: VerdictFor, refused: (v: Verdict) => ToolRefusal, inline: boolean): Execute {
  const kind = Object.prototype.toString.call(run)
  if (kind === '[object AsyncGeneratorFunction]') {
    return async function* (this: unknown, input: unknown, opts: unknown): AsyncGenerator<unknown> {
      const v = await verdictFor(name, input, false)
      throwIfAborted(signalOf(opts))
      if (!v.isPermit) {
        yield refused(v)
        return
      }
      yield* run.call(this, input, opts) as AsyncIterable<unknown>
    }
  }
  if (kind === '[object Function]' && inline) {
    return function (this: unknown, input: unknown, opts: unknown): unknown {
      let v: Verdict
      try {
        v = verdictFor(name, input, true) as Verdict
        throwIfAborted(signalOf(opts))
      } catch (e) {
        return Promise.reject(e)
      }
      if (!v.isPermit) return Promise.resolve().then(() => refused(v))
      return run.call(this, input, opts)
    }
  }
  return async function (this: unknown, input: unknown, opts: unknown): Promise<unknown> {
    const v = await verdictFor(name, input, false)
    throwIfAborted(signalOf(opts))
    if (!v.isPermit) return refused(v)
    // Only a direct return is streamed by the SDK; a Promise of an async iterable is awaited.
    const result = run.call(this, input, opts)
    return isAsyncIterable(result) ? await lastItem(result) : await result
  }
}

function isAsyncIterable(v: unknown): v is AsyncIterable<unknown> {
  return typeof v === 'object' && v !== null && typeof (v as Record<symbol, unknown>)[Symbol.asyncIterator] === 'function'
}

async function lastItem(items: AsyncIterable<unknown>): Promise<unknown> {
  let last: unknown
  for await (const item of items) last = item
  return last
}
