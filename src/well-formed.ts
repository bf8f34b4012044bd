// Strings that are signed, stored or compared as identities must be well-formed UTF-16. A lone
// surrogate reaches the native side as U+FFFD (napi converts strings to UTF-8), so two
// different strings ('pay\ud800', 'pay\udfff') would be signed, stored or looked up as one: a
// signature made for one would verify for the other, a revocation of one would revoke both.

import { InvalidArgumentError } from './errors.js'

/** A high surrogate not followed by a low one, or a low one not preceded by a high one. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/

/** Why `s` cannot stand for itself on the native side, naming `field`, or undefined. */
export function wellFormedProblem(field: string, s: string): string | undefined {
  const m = LONE_SURROGATE.exec(s)
  if (m === null) return undefined
  const unit = m[0].charCodeAt(0).toString(16).toUpperCase()
  return `${field} has a lone surrogate (\\u${unit}) at index ${m.index}: only well-formed strings are accepted`
}

/**
 * Throws `InvalidArgumentError` naming `where` and `name` when `v` is a string with a lone
 * surrogate. Any other value passes: its type is the native call's to refuse, by name.
 */
export function checkWellFormed(where: string, name: string, v: unknown): void {
  const problem = typeof v === 'string' ? wellFormedProblem(`${where}: ${name}`, v) : undefined
  if (problem !== undefined) throw new InvalidArgumentError(problem)
}

/**
 * Patches methods of `cls.prototype` in place (so every instance is covered, however it was
 * made) to run `checkWellFormed` on the string arguments named in `checked` (method → argument
 * index → name) before the call.
 */
export function checkWellFormedArguments(
  cls: abstract new (...args: never[]) => unknown,
  checked: Readonly<Record<string, Readonly<Record<number, string>>>>,
): void {
  const proto = cls.prototype as Record<string, unknown>
  for (const [method, names] of Object.entries(checked)) {
    const desc = Object.getOwnPropertyDescriptor(proto, method)
    if (desc === undefined || typeof desc.value !== 'function') {
      throw new Error(`internal: ${method} is not a method of ${cls.name}`)
    }
    const fn = desc.value as (...args: unknown[]) => unknown
    const where = `${cls.name}.${method}`
    const indices = Object.keys(names).map(Number)
    Object.defineProperty(proto, method, {
      ...desc,
      value: function (this: unknown, ...args: unknown[]): unknown {
        for (const i of indices) checkWellFormed(where, names[i]!, args[i])
        return fn.apply(this, args)
      },
    })
  }
}
