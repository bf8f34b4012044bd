// Rethrow native errors of a napi class as typed `KavachError`s. Prototype methods are
// patched in place (so every instance is covered, however it was made); static methods of
// napi classes are read-only, so the TS classes in audit.ts / channel.ts override them.

import { native, nativeAsync } from './errors.js'

type AnyFn = (...args: unknown[]) => unknown

/**
 * Wraps `methods` of `cls.prototype` in place: a sync method rethrows typed errors, an async
 * one (`'async'`: returns a Promise) rejects with them.
 */
export function wrapNativeMethods(cls: abstract new (...args: never[]) => unknown, methods: string[], flavour: 'sync' | 'async' = 'sync'): void {
  const proto = cls.prototype as Record<string, unknown>
  for (const name of methods) {
    const desc = Object.getOwnPropertyDescriptor(proto, name)
    if (desc === undefined || typeof desc.value !== 'function') {
      throw new Error(`internal: ${name} is not a method of ${cls.name}`)
    }
    const fn = desc.value as AnyFn
    Object.defineProperty(proto, name, {
      ...desc,
      value:
        flavour === 'sync'
          ? function (this: unknown, ...args: unknown[]): unknown {
              return native(() => fn.apply(this, args))
            }
          : function (this: unknown, ...args: unknown[]): Promise<unknown> {
              return nativeAsync(async () => fn.apply(this, args))
            },
    })
  }
}

/** Re-brands an instance made by a native factory as an instance of the TS subclass. */
export function rebrand<T extends object>(obj: object, cls: abstract new (...args: never[]) => T): T {
  return Object.setPrototypeOf(obj, cls.prototype as object) as T
}
