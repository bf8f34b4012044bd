// Checks of the arguments of public functions written in TypeScript (integrations, guarded):
// a wrong type is an `InvalidArgumentError` naming the function and the argument, not the
// `TypeError` the first property read of it would throw. The native entry points check their
// own (crates/kavach-node); option objects are checked field by field in src/options.ts.

import { InvalidArgumentError, kindOf } from './errors.js'

function fail(where: string, name: string, want: string, v: unknown): never {
  throw new InvalidArgumentError(`${where}: ${name} must be ${want} (got ${kindOf(v)})`)
}

/** `v`, which must be a string. */
export function stringArgument(where: string, name: string, v: unknown): string {
  return typeof v === 'string' ? v : fail(where, name, 'a string', v)
}

/** `v`, which must be a function. */
export function functionArgument<F extends (...args: never[]) => unknown>(where: string, name: string, v: unknown): F {
  return typeof v === 'function' ? (v as F) : fail(where, name, 'a function', v)
}

/** `v`, which must be a non-null object (`what` says which kind, for the message). */
export function objectArgument<T extends object>(where: string, name: string, v: unknown, what = 'an object'): T {
  return typeof v === 'object' && v !== null ? (v as T) : fail(where, name, what, v)
}

/** `v`, which must be absent (`undefined` or `null`: then undefined) or an object. */
export function optionalObjectArgument<T extends object>(where: string, name: string, v: unknown): T | undefined {
  return v === undefined || v === null ? undefined : objectArgument<T>(where, name, v)
}

/** A `new` on a class whose instances only its static factories make (the native classes). */
export function noPublicConstructor(cls: string, factories: string): never {
  throw new InvalidArgumentError(`${cls} has no public constructor: use ${factories}`)
}

/** `v`, which must be a gate (checked by shape: the integrations import `Gate` as a type only). */
export function gateArgument<G extends object>(where: string, v: unknown): G {
  const ok = typeof v === 'object' && v !== null && typeof (v as { evaluateAsync?: unknown }).evaluateAsync === 'function'
  return ok ? (v as G) : fail(where, 'gate', 'a Gate', v)
}

/** Whether a hook's return value is a promise (or any thenable) whose rejection must be handled. */
export function isThenable(v: unknown): v is PromiseLike<unknown> {
  return (typeof v === 'object' || typeof v === 'function') && v !== null && typeof (v as { then?: unknown }).then === 'function'
}
