// Own-property copies of objects handed to the native side. The native side reads objects
// through the prototype chain (a property read, or a `for...in`-like key list), so a polluted
// `Object.prototype` (or an `Object.create({ observeOnly: true })`) would be honoured there.
// The copies hold own enumerable string keys only, in null-prototype objects, each value read
// once (a getter cannot answer differently to a later read).

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
 * A deep copy of a JSON-like value (a policy set) made of own properties only: objects become
 * null-prototype objects, arrays become dense arrays of their own elements up to the first
 * hole (an inherited index included), which becomes a final `undefined` that the native loader
 * rejects. Other values are
 * passed as they are (the native loader names what it cannot read).
 */
export function ownDeepCopy(v: unknown, depth = 0): unknown {
  if (typeof v !== 'object' || v === null || depth > MAX_COPY_DEPTH) return v
  if (Array.isArray(v)) {
    // Up to the first hole: the native side rejects the `undefined` there, so nothing past it
    // is read, and a sparse array claiming 2^32 - 1 elements costs no more than its start.
    const out: unknown[] = []
    for (let i = 0; i < v.length; i++) {
      if (!Object.hasOwn(v, i)) {
        out.push(undefined)
        break
      }
      out.push(ownDeepCopy(v[i], depth + 1))
    }
    return out
  }
  const out = Object.create(null) as Record<string, unknown>
  for (const key of Object.keys(v)) out[key] = ownDeepCopy((v as Record<string, unknown>)[key], depth + 1)
  return out
}
