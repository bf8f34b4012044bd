// guarded(): wrap an agent's tool so it runs only on Permit. The caller comes from `.as(caller)`
// or from `runAs(caller, fn)` (AsyncLocalStorage); without one the call is refused.

import { AsyncLocalStorage } from 'node:async_hooks'
import { types } from 'node:util'

import type { EvaluateOptions } from '../binding.js'
import { functionArgument, gateArgument, objectArgument } from './arguments.js'
import { isParamValue, paramValueProblem } from './context.js'
import { InvalidArgumentError, Refused, SyncNotSupportedError, throwUnlessPermit } from './errors.js'
import type { Gate } from './gate.js'
import { type FieldChecks, boolean, checkedFields, fn as func, methodOf, object, oneOf, string } from './options.js'

/** Who is calling: everything in `EvaluateOptions` except the action and its params. */
export type Caller = Omit<EvaluateOptions, 'actionName' | 'params'>

// Any function shape (parameters are contravariant, so `never[]` accepts every signature).
type AnyFn = (...args: never[]) => unknown

export interface GuardOptions<A extends unknown[]> {
  /** The action name the gate sees. */
  action: string
  /**
   * Build params from the call's arguments. Each value must be a finite number or a string:
   * anything else (a bigint, a boxed Number, an object, `undefined`) refuses the call with
   * `INVALID_CONTEXT` naming the param, so an invariant can never be skipped by a value the
   * gate cannot read.
   */
  params?: (...args: A) => Record<string, unknown>
  /** Or: param name → argument index (`{ amount: 1 }`); an index past the arguments refuses. */
  paramFields?: Record<string, number>
  /** A fixed resource, or one derived from the arguments. */
  resource?: string | ((...args: A) => string | undefined)
  /**
   * Force the wrapper's flavour when it cannot be detected (a non-`async` function that
   * returns a Promise): `true` = evaluate with `evaluateAsync`.
   */
  async?: boolean
}

/** The wrapped function, plus `.as(caller)` to bind the caller explicitly. */
export type Guarded<F extends AnyFn> = F & { as(caller: Caller): F }

const callerStore = new AsyncLocalStorage<Caller>()

/** Runs `fn` with `caller` as the current caller of every guarded function it calls. */
export function runAs<T>(caller: Caller, fn: () => T): T {
  const checked = checkCaller('runAs', caller)
  return callerStore.run(checked, functionArgument<() => T>('runAs', 'fn', fn))
}

/** A caller must be an object (its fields are checked by the gate on every call). */
function checkCaller(where: string, caller: Caller): Caller {
  if (typeof caller !== 'object' || caller === null) {
    throw new InvalidArgumentError(`${where}: caller must be an object { principalId, principalKind, ... }, got ${caller === null ? 'null' : typeof caller}`)
  }
  return caller
}

/** The caller set by the innermost `runAs`, if any. */
export function currentCaller(): Caller | undefined {
  return callerStore.getStore()
}

/** Refuses the call with `INVALID_CONTEXT` (the function does not run). */
function badParam(action: string, reason: string): Refused {
  return new Refused('INVALID_CONTEXT', 'guarded', `'${action}': ${reason}`)
}

/**
 * The params the gate reads, or a refusal naming the first one it cannot read. Nothing is
 * dropped: a missing value would let a policy or invariant on that param not apply.
 */
function readParams(action: string, raw: unknown): Record<string, number | string> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw badParam(action, `params() must return an object of numbers and strings, got ${raw === null ? 'null' : typeof raw}`)
  }
  const out: Record<string, number | string> = {}
  for (const name of Object.keys(raw)) {
    const v: unknown = (raw as Record<string, unknown>)[name]
    if (isParamValue(v)) out[name] = v
    else throw badParam(action, paramValueProblem(name, v))
  }
  return out
}

function fieldParams(action: string, fields: Record<string, number>, args: readonly unknown[]): Record<string, unknown> {
  const raw: Record<string, unknown> = {}
  for (const name of Object.keys(fields)) {
    const index = fields[name]!
    if (index >= args.length) {
      throw badParam(action, `param '${name}' reads argument ${index}, but the call has ${args.length} argument(s)`)
    }
    raw[name] = args[index]
  }
  return raw
}

function buildContext<A extends unknown[]>(opts: GuardOptions<A>, caller: Caller | undefined, args: A): EvaluateOptions | undefined {
  if (caller === undefined) return undefined
  let params: Record<string, number | string> = {}
  if (opts.params !== undefined) params = readParams(opts.action, opts.params(...args))
  else if (opts.paramFields !== undefined) params = readParams(opts.action, fieldParams(opts.action, opts.paramFields, args))
  const ctx: EvaluateOptions = { ...caller, actionName: opts.action, params }
  const resource = typeof opts.resource === 'function' ? opts.resource(...args) : opts.resource
  if (resource !== undefined) ctx.resource = resource
  return ctx
}

/** `paramFields` indices are checked once, when the function is wrapped. */
function checkParamFields(action: string, fields: Record<string, number> | undefined): void {
  if (fields === undefined) return
  for (const name of Object.keys(fields)) {
    const index = fields[name]
    if (typeof index !== 'number' || !Number.isSafeInteger(index) || index < 0) {
      throw new InvalidArgumentError(`guarded '${action}': paramFields.${name} must be an argument index (an integer >= 0), got ${String(index)}`)
    }
  }
}

/** The option names of `guarded` and `guard`, each with its type. */
const GUARD_CHECKS: FieldChecks<GuardOptions<unknown[]>>['checks'] = {
  action: string,
  params: func,
  paramFields: object,
  resource: oneOf('a string or a function', string, func),
  async: boolean,
}

/**
 * `opts` checked once, when `where` (`guarded`, `guard`) is called: an unknown name (a typo
 * such as `paramField`) would leave its params unsent, so a policy or invariant on them would
 * not apply; it throws `InvalidArgumentError` naming it instead. Returns the checked copy the
 * wrapper reads, so a later change to `opts` changes nothing.
 */
function guardOptions<A extends unknown[]>(where: string, opts: GuardOptions<A>): GuardOptions<A> {
  objectArgument(where, 'options', opts)
  const what = `${where} options`
  const checked = checkedFields<GuardOptions<A>>(
    // `inherited`: a class instance's `params()` method, or `Object.create(defaults)`, is read as
    // given; dropped, its params would go unsent and a refuse policy on them would not apply.
    { what, noun: 'option', checks: GUARD_CHECKS, required: { action: true }, inherited: true, error: InvalidArgumentError },
    opts,
  )
  // Only one of them is read: the other would be dropped without a word.
  if (checked.params !== undefined && checked.paramFields !== undefined) {
    throw new InvalidArgumentError(
      `${what}: 'params' and 'paramFields' are both given; pick one: params (a function of the arguments) or paramFields (argument indices)`,
    )
  }
  checkParamFields(checked.action, checked.paramFields)
  const { params, resource } = checked
  if (params !== undefined) checked.params = methodOf(opts, params)
  if (typeof resource === 'function') checked.resource = methodOf(opts, resource)
  return checked
}

function noCaller(action: string): Refused {
  return new Refused('INVALID_CONTEXT', 'guarded', `no caller for '${action}': use .as(caller) or runAs(caller, fn)`)
}

function isAsync(fn: AnyFn, forced: boolean | undefined): boolean {
  return forced ?? types.isAsyncFunction(fn)
}

function wrap<F extends AnyFn>(gate: Gate, opts: GuardOptions<Parameters<F>>, fn: F, fixed: Caller | undefined): F {
  type A = Parameters<F>
  if (isAsync(fn, opts.async)) {
    const wrapped = async function (this: unknown, ...args: A): Promise<unknown> {
      const ctx = buildContext(opts, fixed ?? currentCaller(), args)
      if (ctx === undefined) throw noCaller(opts.action)
      throwUnlessPermit(await gate.evaluateAsync(ctx))
      return await (fn as unknown as (...a: A) => unknown).apply(this, args)
    }
    return wrapped as unknown as F
  }
  if (!gate.supportsSync) {
    throw new SyncNotSupportedError(
      `cannot guard the sync function for '${opts.action}': this gate uses network stores; make the function async`,
    )
  }
  const wrapped = function (this: unknown, ...args: A): unknown {
    const ctx = buildContext(opts, fixed ?? currentCaller(), args)
    if (ctx === undefined) throw noCaller(opts.action)
    throwUnlessPermit(gate.evaluate(ctx))
    return (fn as unknown as (...a: A) => unknown).apply(this, args)
  }
  return wrapped as unknown as F
}

/**
 * Wraps `fn` so it runs only when `gate` permits `opts.action`. Sync stays sync, async stays
 * async; a refusal throws `Refused` (or `Invalidated`) and the function does not run.
 */
export function guarded<F extends AnyFn>(gate: Gate, opts: GuardOptions<Parameters<F>>, fn: F): Guarded<F> {
  gateArgument('guarded', gate)
  const options = guardOptions('guarded', opts)
  functionArgument('guarded', 'fn', fn)
  const base = wrap(gate, options, fn, undefined) as Guarded<F>
  Object.defineProperty(base, 'as', {
    value: (caller: Caller): F => wrap(gate, options, fn, checkCaller('.as(caller)', caller)),
    enumerable: false,
  })
  Object.defineProperty(base, 'name', { value: fn.name })
  return base
}

/**
 * The same as a TypeScript 5 method decorator: `@guard(gate, { action: 'refund' })`. The caller
 * comes from `runAs`.
 */
export function guard(gate: Gate, opts: GuardOptions<never[]>) {
  gateArgument('guard', gate)
  const options = guardOptions('guard', opts)
  return function <This, A extends unknown[], R>(
    method: (this: This, ...args: A) => R,
    context: ClassMethodDecoratorContext<This, (this: This, ...args: A) => R>,
  ): (this: This, ...args: A) => R {
    void context
    return wrap(gate, options as GuardOptions<Parameters<(...args: A) => R>>, method as unknown as (...args: A) => R, undefined) as unknown as (this: This, ...args: A) => R
  }
}
