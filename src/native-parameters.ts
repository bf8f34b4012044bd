// Which argument napi refused, and in words a user can act on. napi-rs describes a conversion
// failure in Rust terms ("Failed to convert JavaScript value `Object {…}` into rust type
// `String`", "Failed to recover `KavachKeyPair` type from napi value"), as does the array
// reader ("expected an array"), naming neither the call nor the argument, and napi quotes the
// whole value as JSON (a 1 MB object gives a 1 MB message). napi converts arguments in order and stops at the first it
// cannot, so the first argument that does not fit its declared type (binding.d.ts, rendered
// into shapes in src/generated/native-signatures.ts) is the one it refused.

import * as binding from '../binding.js'

import { kindOf } from './errors.js'
import { NATIVE_SIGNATURES, type NativeParameter, type NativeShape } from './generated/native-signatures.js'

/** A native class of the binding by name. */
function nativeClass(name: string): (abstract new (...args: never[]) => unknown) | undefined {
  const v: unknown = (binding as Record<string, unknown>)[name]
  return typeof v === 'function' ? (v as abstract new (...args: never[]) => unknown) : undefined
}

/** Whether `v` has one of `shapes`, as far as napi's conversion checks it. */
function fits(v: unknown, shapes: readonly NativeShape[]): boolean {
  return shapes.some((shape) => fitsShape(v, shape))
}

function fitsShape(v: unknown, shape: NativeShape): boolean {
  switch (shape) {
    case 'unknown':
      return true
    case 'string':
    case 'number':
    case 'boolean':
    case 'bigint':
    case 'function':
      return typeof v === shape
    case 'Buffer':
      return v instanceof Uint8Array
    case 'Float64Array':
      return v instanceof Float64Array
  }
  if ('literal' in shape) return typeof v === 'string'
  if ('arrayOf' in shape) return Array.isArray(v) && itemsFit(v, shape.arrayOf)
  if ('instanceOf' in shape) {
    const cls = nativeClass(shape.instanceOf)
    return cls === undefined || v instanceof cls
  }
  return typeof v === 'object' && v !== null
}

/**
 * Whether the first items of `items` have one of `shapes`: enough to find a wrong one in any
 * array a caller builds, without walking an array that claims 2^32 - 1 (absent) items.
 */
function itemsFit(items: unknown[], shapes: readonly NativeShape[]): boolean {
  const n = Math.min(items.length, ITEMS_CHECKED)
  for (let i = 0; i < n; i++) if (!fits(items[i], shapes)) return false
  return true
}
const ITEMS_CHECKED = 1_000

/** `fits`, or 'throws' for a value whose reading throws (a hostile proxy: napi could not read it either). */
function fitsOrThrows(v: unknown, shapes: readonly NativeShape[]): boolean | 'throws' {
  try {
    return fits(v, shapes)
  } catch {
    return 'throws'
  }
}

/** `shapes` in words: "a string", "an array of PublicKeyBundle", "'session' or 'role'". */
function describe(shapes: readonly NativeShape[]): string {
  return shapes.map(describeShape).join(' or ')
}

function describeShape(shape: NativeShape): string {
  if (typeof shape === 'string') return shape === 'unknown' ? 'a value' : withArticle(shape)
  if ('literal' in shape) return `'${shape.literal}'`
  if ('arrayOf' in shape) return `an array of ${shape.arrayOf.map((s) => (typeof s === 'string' ? `${s}s` : describeShape(s).replace(/^an? /, ''))).join(' or ')}`
  return withArticle('instanceOf' in shape ? shape.instanceOf : shape.object)
}

function withArticle(noun: string): string {
  return /^[aeiouAEIOU]/.test(noun) ? `an ${noun}` : `a ${noun}`
}

/** The declared parameters of the native entry point `where` (`gate.x` is the native `Gate.x`). */
function signatureOf(where: string): readonly NativeParameter[] | undefined {
  return NATIVE_SIGNATURES[where] ?? NATIVE_SIGNATURES[where.replace(/^gate\./, 'Gate.')]
}

/**
 * The message for napi's refusal of an argument of `where` called with `args`: the first
 * argument that does not fit its declared type, named (by `names` when given, the TS API's
 * names, else the native ones), what it must be and what it was. Undefined when no argument
 * is found wrong (a value napi judges deeper than its type).
 */
export function wrongArgumentMessage(where: string, args: unknown[], names: readonly string[] | undefined): string | undefined {
  const params = signatureOf(where)
  if (params === undefined) return undefined
  for (let i = 0; i < params.length; i++) {
    const [native, shapes, optional] = params[i]!
    const v = args[i]
    const name = names?.[i] ?? native
    if (v === undefined || v === null) {
      if (optional) continue
      return `${where}: ${name} is required (${describe(shapes)}), got ${kindOf(v)}`
    }
    const fit = fitsOrThrows(v, shapes)
    if (fit === true) continue
    const want = optional ? `${describe(shapes)}, or absent` : describe(shapes)
    return `${where}: ${name} must be ${want} (got ${fit === false ? kindOf(v) : 'a value that throws when read'})`
  }
  return undefined
}
