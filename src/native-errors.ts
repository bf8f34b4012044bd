// Rethrow native errors of a napi class as typed `KavachError`s. Prototype methods are
// patched in place (so every instance is covered, however it was made); static methods of
// napi classes are read-only, so the TS classes (audit.ts, channel.ts, pq.ts, redis.ts)
// override them, and their constructors, with `nativeCall` / `nativeError`.

import { InvalidArgumentError, isNapiTypeError, kindOf, toKavachError } from './errors.js'
import { wrongArgumentMessage } from './native-parameters.js'

type AnyFn = (...args: unknown[]) => unknown

/**
 * napi's refusal of an argument's type (a napi status as its code) becomes an
 * `InvalidArgumentError` naming the argument and what it must be (native-parameters.ts).
 * A `TypeError` from napi's argument conversion (no code, e.g. "Cannot convert undefined or
 * null to object" for `verify(null, sig)`) becomes an `InvalidArgumentError` naming the method
 * and the first missing argument (by name when `params` gives one). napi describes an object
 * given where it wants another type with `JSON.stringify`, which throws for a BigInt inside, a
 * cycle or a text too long for a string (a `TypeError` or `RangeError`): that becomes an
 * `InvalidArgumentError` naming the first argument `JSON.stringify` refuses. Anything else is
 * mapped by `toKavachError`.
 */
function argumentError(e: unknown, where: string, args: unknown[], params: readonly string[] | undefined): unknown {
  if (isNapiTypeError(e)) {
    // napi's wording quotes the value whole and names no argument: neither reaches the user.
    const message = wrongArgumentMessage(where, args, params)
    if (message !== undefined) return new InvalidArgumentError(message)
  }
  if (!(e instanceof TypeError || e instanceof RangeError) || 'code' in e) return e
  const count = Math.max(args.length, params?.length ?? 0)
  const nameOf = (i: number): string => params?.[i] ?? `argument ${i + 1}`
  for (let i = 0; i < count && e instanceof TypeError; i++) {
    const v = args[i]
    if (v === null || v === undefined) {
      return new InvalidArgumentError(`${where}: ${nameOf(i)} is required, got ${v === null ? 'null' : 'undefined'}`, { cause: e })
    }
  }
  for (let i = 0; i < args.length; i++) {
    if (indescribable(args[i])) {
      return new InvalidArgumentError(`${where}: ${nameOf(i)} has the wrong type or cannot be read (got ${kindOf(args[i])}: ${e.message})`, { cause: e })
    }
  }
  return e
}

/** Whether `JSON.stringify` throws for `v` (what napi's type-mismatch message does with it). */
function indescribable(v: unknown): boolean {
  if (typeof v !== 'object' || v === null) return false
  try {
    JSON.stringify(v)
    return false
  } catch {
    return true
  }
}

/**
 * The typed error for `e`, thrown by the native entry point `where` called with `args`:
 * a missing argument named (by `params`), anything else mapped by `toKavachError`.
 */
export function nativeError(e: unknown, where: string, args: unknown[], params?: readonly string[]): unknown {
  return toKavachError(argumentError(e, where, args, params), where)
}

/** Runs `fn` (the native entry point `where` called with `args`), rethrowing `nativeError`s. */
export function nativeCall<T>(where: string, args: unknown[], fn: () => T, params?: readonly string[]): T {
  try {
    return fn()
  } catch (e) {
    throw nativeError(e, where, args, params)
  }
}

/** `nativeCall` for an entry point that returns a Promise: it rejects with `nativeError`s. */
export async function nativeCallAsync<T>(where: string, args: unknown[], fn: () => Promise<T>, params?: readonly string[]): Promise<T> {
  try {
    return await fn()
  } catch (e) {
    throw nativeError(e, where, args, params)
  }
}

/**
 * Wraps `methods` of `cls.prototype` in place: a sync method rethrows typed errors, an async
 * one (`'async'`: returns a Promise) rejects with them. `params` names each method's
 * parameters for the messages of missing arguments.
 */
export function wrapNativeMethods(
  cls: abstract new (...args: never[]) => unknown,
  methods: string[],
  flavour: 'sync' | 'async' = 'sync',
  params: Record<string, readonly string[]> = {},
): void {
  const proto = cls.prototype as Record<string, unknown>
  for (const name of methods) {
    const desc = Object.getOwnPropertyDescriptor(proto, name)
    if (desc === undefined || typeof desc.value !== 'function') {
      throw new Error(`internal: ${name} is not a method of ${cls.name}`)
    }
    const fn = desc.value as AnyFn
    const where = `${cls.name}.${name}`
    const names = Object.hasOwn(params, name) ? params[name] : undefined
    Object.defineProperty(proto, name, {
      ...desc,
      value:
        flavour === 'sync'
          ? function (this: unknown, ...args: unknown[]): unknown {
              return nativeCall(where, args, () => fn.apply(this, args), names)
            }
          : function (this: unknown, ...args: unknown[]): Promise<unknown> {
              return nativeCallAsync(where, args, () => fn.apply(this, args) as Promise<unknown>, names)
            },
    })
  }
}

/** Re-brands an instance made by a native factory as an instance of the TS subclass. */
export function rebrand<T extends object>(obj: object, cls: { readonly prototype: T }): T {
  return Object.setPrototypeOf(obj, cls.prototype) as T
}
