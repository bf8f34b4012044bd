// Own-property copies of objects handed to the native side. The native side reads objects
// through the prototype chain (a property read, or a `for...in`-like key list), so a polluted
// `Object.prototype` (or an `Object.create({ observeOnly: true })`) would be honoured there.
// The copies hold own enumerable string keys only, in null-prototype objects, each value read
// once (a getter cannot answer differently to a later read).

import { PolicyParseError } from './errors.js'
import { MAX_POLICY_FILE_BYTES } from './policy-file.js'

/**
 * Past this depth the original is passed on: the native loader's limit (16, policy_value.rs)
 * is lower, so it rejects the value ("nested too deeply (a cycle?)") before reaching it. Kept
 * that close to the native limit so that a cycle with many branches costs the copy no more
 * than it costs the loader.
 */
const MAX_COPY_DEPTH = 17

/** A plain record (not an array, function or null). */
export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/**
 * Sets `record[key]` as an own data property. Plain assignment of `'__proto__'` would set the
 * record's prototype instead, silently dropping a param of that name (the native side, which
 * reads own keys, would judge a different context than the copy shows).
 */
export function setOwn(record: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(record, key, { value, enumerable: true, writable: true, configurable: true })
}

/**
 * The first own string key of `obj` that is not enumerable, or undefined. A key listing
 * (`for...in`, `Object.keys`, the native side's property names) skips such a key while a read
 * by name finds it, so a reader that lists and one that reads by name see different objects.
 * A property's enumerability is read without running its getter.
 */
export function nonEnumerableKey(obj: object): string | undefined {
  const names = Object.getOwnPropertyNames(obj)
  for (let i = 0; i < names.length; i++) {
    if (!Object.prototype.propertyIsEnumerable.call(obj, names[i])) return names[i]
  }
  return undefined
}

/** A null-prototype copy of `obj`'s own enumerable string-keyed values (not recursive). */
export function ownFields(obj: object): Record<string, unknown> {
  const out = Object.create(null) as Record<string, unknown>
  for (const key of Object.keys(obj)) out[key] = (obj as Record<string, unknown>)[key]
  return out
}

/**
 * The most values one deep copy makes, a sub-object counted once for each reference to it:
 * the native loader walks the copy as a tree (policy_value.rs), so a shared sub-object costs it
 * once per reference, and a small graph of shared references (YAML anchors and aliases as
 * js-yaml loads them, `Array(n).fill(policy)`) stands for billions of values. Each value of a
 * JSON or TOML text takes at least one byte and one separator, so a policy file (at most
 * MAX_POLICY_FILE_BYTES) holds at most half as many values as bytes: every set a file can hold
 * loads as an object too.
 */
export const MAX_COPY_VALUES = MAX_POLICY_FILE_BYTES / 2

/**
 * A sub-object whose copy holds at least this many values is copied once, and that copy serves
 * every later reference at its depth or deeper; a smaller one is copied again for each
 * reference. A repeated reference thus costs the copy at most this many steps while it counts
 * all its values, so an expansion past MAX_COPY_VALUES is found in time linear in the input,
 * and a set of many small policies keeps no record per policy.
 */
const SHARED_COPY_MIN_VALUES = 64

/** The error a copy past MAX_COPY_VALUES throws, given that limit: the caller's kind of input error. */
export type TooManyValues = (limit: number) => Error

/** The error of a policy object whose copy would hold more than MAX_COPY_VALUES values. */
export function policyObjectTooLarge(limit: number): Error {
  return new PolicyParseError(
    `policy object has more than ${limit} values, counting a shared sub-object once per reference (more than a policy file of ${MAX_POLICY_FILE_BYTES} bytes can hold)`,
  )
}

/** A copy made once for a sub-object referenced again: at `depth`, holding `values` values. */
interface SharedCopy {
  copy: unknown
  depth: number
  values: number
}

interface CopyState {
  values: number
  shared: Map<object, SharedCopy> | undefined
  tooMany: TooManyValues
}

/**
 * A deep copy of a JSON-like value (a policy set) made of own properties only: objects become
 * null-prototype objects, arrays become dense arrays of their own elements up to the first
 * hole (an inherited index included), which becomes a final `undefined` that the native loader
 * rejects. Other values are passed as they are (the native loader names what it cannot read).
 * More than MAX_COPY_VALUES values, a sub-object counted once per reference, throws `tooMany`'s
 * error before the native loader reads any of it.
 */
export function ownDeepCopy(v: unknown, tooMany: TooManyValues, depth = 0): unknown {
  return copyValue(v, depth, { values: 0, shared: undefined, tooMany })
}

function countValues(s: CopyState, n: number): void {
  s.values += n
  if (s.values > MAX_COPY_VALUES) throw s.tooMany(MAX_COPY_VALUES)
}

function copyValue(v: unknown, depth: number, s: CopyState): unknown {
  countValues(s, 1)
  if (typeof v !== 'object' || v === null || depth > MAX_COPY_DEPTH) return v
  const seen = s.shared?.get(v)
  // A copy made at this depth or above reaches at least as deep below this reference, so the
  // native loader meets its depth limit inside the copy, never in the original.
  if (seen !== undefined && seen.depth <= depth) {
    countValues(s, seen.values - 1)
    return seen.copy
  }
  const start = s.values - 1
  const copy = Array.isArray(v) ? copyArray(v, depth, s) : copyRecord(v, depth, s)
  const values = s.values - start
  if (values >= SHARED_COPY_MIN_VALUES) (s.shared ??= new Map()).set(v, { copy, depth, values })
  return copy
}

function copyArray(v: unknown[], depth: number, s: CopyState): unknown[] {
  // Up to the first hole: the native side rejects the `undefined` there, so nothing past it
  // is read, and a sparse array claiming 2^32 - 1 elements costs no more than its start.
  const out: unknown[] = []
  for (let i = 0; i < v.length; i++) {
    if (!Object.hasOwn(v, i)) {
      out.push(undefined)
      break
    }
    out.push(copyValue(v[i], depth + 1, s))
  }
  return out
}

function copyRecord(v: object, depth: number, s: CopyState): Record<string, unknown> {
  const out = Object.create(null) as Record<string, unknown>
  for (const key of Object.keys(v)) out[key] = copyValue((v as Record<string, unknown>)[key], depth + 1, s)
  return out
}
