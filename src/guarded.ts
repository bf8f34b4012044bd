// guarded(): wrap an agent's tool so it runs only on Permit. The caller comes from `.as(caller)`
// or from `runAs(caller, fn)` (AsyncLocalStorage); without one the call is refused.

import { AsyncLocalStorage } from 'node:async_hooks'
import { types } from 'node:util'

import type { EvaluateOptions } from '../binding.js'
import { Refused, SyncNotSupportedError, throwUnlessPermit } from './errors.js'
import type { Gate } from './gate.js'

/** Who is calling: everything in `EvaluateOptions` except the action and its params. */
export type Caller = Omit<EvaluateOptions, 'actionName' | 'params'>

// Any function shape (parameters are contravariant, so `never[]` accepts every signature).
type AnyFn = (...args: never[]) => unknown

export interface GuardOptions<A extends unknown[]> {
  /** The action name the gate sees. */
  action: string
  /** Build params from the call's arguments. Only numbers and strings are forwarded. */
  params?: (...args: A) => Record<string, unknown>
  /** Or: param name → argument index (`{ amount: 1 }`). */
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
  return callerStore.run(caller, fn)
}

/** The caller set by the innermost `runAs`, if any. */
export function currentCaller(): Caller | undefined {
  return callerStore.getStore()
}

/** Numbers and strings pass; anything else is dropped (documented). */
function scalarParams(raw: Record<string, unknown>): Record<string, number | string> {
  const out: Record<string, number | string> = {}
  for (const [k, v] of Object.entries(raw)) {
    if (typeof v === 'number' || typeof v === 'string') out[k] = v
  }
  return out
}

function buildContext<A extends unknown[]>(opts: GuardOptions<A>, caller: Caller | undefined, args: A): EvaluateOptions | undefined {
  if (caller === undefined) return undefined
  let raw: Record<string, unknown> = {}
  if (opts.params !== undefined) raw = opts.params(...args)
  else if (opts.paramFields !== undefined) {
    for (const [name, index] of Object.entries(opts.paramFields)) raw[name] = args[index]
  }
  const ctx: EvaluateOptions = { ...caller, actionName: opts.action, params: scalarParams(raw) }
  const resource = typeof opts.resource === 'function' ? opts.resource(...args) : opts.resource
  if (resource !== undefined) ctx.resource = resource
  return ctx
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
  const base = wrap(gate, opts, fn, undefined) as Guarded<F>
  Object.defineProperty(base, 'as', {
    value: (caller: Caller): F => wrap(gate, opts, fn, caller),
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
  return function <This, A extends unknown[], R>(
    method: (this: This, ...args: A) => R,
    context: ClassMethodDecoratorContext<This, (this: This, ...args: A) => R>,
  ): (this: This, ...args: A) => R {
    void context
    return wrap(gate, opts as GuardOptions<Parameters<(...args: A) => R>>, method as unknown as (...args: A) => R, undefined) as unknown as (this: This, ...args: A) => R
  }
}
