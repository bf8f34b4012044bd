// Context builders that validate eagerly (the Python SDK's `ActionContext(...)` and
// `GeoLocation(...)`). A plain `EvaluateOptions` object works everywhere too; the native side
// validates it on every call.

import type { DeviceInput, EvaluateOptions, GeoLocationInput } from '../binding.js'
import { optionalObjectArgument } from './arguments.js'
import { InvalidArgumentError, InvalidContextError, excerpt, kindOf } from './errors.js'
import { CONTEXT_MAX_ROLES, PRINCIPAL_KINDS as KINDS } from './generated/layout.js'
import { nonEnumerableKey, ownDeepCopy, ownFields, setOwn } from './own-properties.js'
import { wellFormedProblem } from './well-formed.js'

export type { DeviceInput, EvaluateOptions, GeoLocationInput }
export type PrincipalKind = EvaluateOptions['principalKind']
/** The principal kinds (the core's `PrincipalKind`, generated). */
export const PRINCIPAL_KINDS: readonly PrincipalKind[] = KINDS

function bad(message: string): never {
  throw new InvalidArgumentError(message)
}

function optionalString(field: string, v: unknown): string | undefined {
  if (v === undefined) return undefined
  if (typeof v !== 'string') bad(`${field} must be a string, got ${kindOf(v)}`)
  return v
}

function requiredString(field: string, v: unknown): string {
  if (typeof v !== 'string' || v.length === 0) bad(`${field} must be a non-empty string`)
  return v
}

function optionalWhole(field: string, v: unknown): number | undefined {
  if (v === undefined) return undefined
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    bad(`${field} must be a non-negative integer, got ${typeof v === 'number' ? v : kindOf(v)}`)
  }
  return v
}

/** The fields of a context (`EvaluateOptions`), in the order the docs list them. */
const CONTEXT_KEYS = [
  'principalId', 'principalKind', 'actionName', 'roles', 'resource', 'params', 'ip', 'sessionId', 'originIp',
  'currentGeo', 'originGeo', 'device', 'originDevice', 'sessionStartedAt', 'actionCount',
] as const
const GEO_KEYS = ['countryCode', 'region', 'city', 'latitude', 'longitude'] as const
const DEVICE_KEYS = ['hash', 'description'] as const

function unknownKey(where: string, key: string, known: readonly string[]): InvalidContextError {
  const k = key.toLowerCase()
  const near = known.find((c) => {
    const l = c.toLowerCase()
    return l === k || (k.length >= 3 && (l.startsWith(k) || k.startsWith(l)))
  })
  const hint = near === undefined ? '' : `; did you mean '${near}'?`
  return new InvalidContextError(`${where}: unknown key '${excerpt(key)}' (expected one of ${known.join(', ')})${hint}`)
}

function checkNested(where: string, v: unknown, known: readonly string[]): void {
  if (typeof v !== 'object' || v === null) return
  let listed = 0
  for (const k in v) {
    if (!known.includes(k)) throw unknownKey(where, k, known)
    listed++
  }
  // The full look (`hiddenKey`) only when `v` may hide a key: it has a prototype that may
  // lend one, or owns more keys than the loop listed. A plain object, or a `GeoLocation`
  // (own enumerable fields, frozen), costs one key listing.
  const proto: unknown = Object.getPrototypeOf(v)
  const lends = proto !== Object.prototype && proto !== null && proto !== GeoLocation.prototype
  if (lends || Object.getOwnPropertyNames(v).length !== listed) {
    const hidden = hiddenKey(where, v, known)
    if (hidden !== undefined) throw hidden
  }
}

/**
 * A property that a read by name finds but a key listing skips, as the error that refuses it.
 * Each path reads a context differently (the fast path by name, the copies and
 * `ActionContext` by key listing, the native side by name for fields and by listing for
 * params), so such a property would be judged on one path and skipped on another; refused,
 * it is judged nowhere, on every path.
 */
function hiddenError(where: string, key: string, own: boolean): InvalidContextError {
  return new InvalidContextError(
    `${where}: '${excerpt(key)}' is ${own ? 'not enumerable' : 'inherited'}; a context, its params and its geo and device objects are read by their own enumerable properties`,
  )
}

/**
 * The error for `v`'s first own non-enumerable key (params, a geo or a device, named `where`),
 * or for a field of `known` that `v` inherits (the native side reads a geo's or a device's
 * fields by name, through the prototype chain; the copies read own keys), else undefined.
 */
function hiddenKey(where: string, v: object, known?: readonly string[]): InvalidContextError | undefined {
  const key = nonEnumerableKey(v)
  if (key !== undefined) return hiddenError(where, key, true)
  if (known !== undefined) {
    for (const k of known) if (!Object.hasOwn(v, k) && k in v) return hiddenError(where, k, false)
  }
  return undefined
}

/** `hiddenKey` for the value of context field `field`, when it holds a record a path lists. */
function hiddenNested(field: string, v: unknown): InvalidContextError | undefined {
  if (typeof v !== 'object' || v === null) return undefined
  switch (field) {
    case 'params':
      return hiddenKey(field, v)
    case 'currentGeo':
    case 'originGeo':
      return hiddenKey(field, v, GEO_KEYS)
    case 'device':
    case 'originDevice':
      return hiddenKey(field, v, DEVICE_KEYS)
    default:
      return undefined
  }
}

/**
 * The error for `o`'s first context field that is own but not enumerable (and, given
 * `inherited`, for one it inherits), else undefined. Reads no value (runs no getter).
 */
function hiddenField(o: object, inherited: boolean): InvalidContextError | undefined {
  for (const k of CONTEXT_KEYS) {
    const d = Object.getOwnPropertyDescriptor(o, k)
    if (d !== undefined ? !d.enumerable : inherited && k in o) return hiddenError('context', k, d !== undefined)
  }
  return undefined
}

/**
 * How many context fields a read by name finds in `r`. Constant keys: each `in` is an inline
 * cache hit, where a loop over `CONTEXT_KEYS` would be a generic lookup per key.
 */
function fieldsIn(r: object): number {
  return (
    +('principalId' in r) + +('principalKind' in r) + +('actionName' in r) + +('roles' in r) + +('resource' in r) +
    +('params' in r) + +('ip' in r) + +('sessionId' in r) + +('originIp' in r) + +('currentGeo' in r) +
    +('originGeo' in r) + +('device' in r) + +('originDevice' in r) + +('sessionStartedAt' in r) + +('actionCount' in r)
  )
}

/**
 * A null-prototype copy of context `o`'s own enumerable properties (nested ones too), for a
 * context that may inherit (src/gate.ts): the native side then reads what the copy shows.
 * Each property is read once. What the copy would drop while the fast path reads it throws
 * instead (`hiddenField`, `hiddenNested`), as do params that are no record (a `Map` would
 * become empty params). Inherited fields are left out, as documented.
 */
export function ownContext(o: object): EvaluateOptions {
  const hidden = hiddenField(o, false)
  if (hidden !== undefined) throw hidden
  const out = Object.create(null) as Record<string, unknown>
  for (const key of Object.keys(o)) {
    const v = (o as Record<string, unknown>)[key]
    if (key === 'params') {
      const shape = paramsShapeProblem(v)
      if (shape !== undefined) bad(shape)
    }
    const nested = hiddenNested(key, v)
    if (nested !== undefined) throw nested
    const tooMany = (limit: number) => new InvalidArgumentError(`${key} has more than ${limit} values, counting a shared sub-object once per reference`)
    out[key] = ownDeepCopy(v, tooMany, 1)
  }
  return out as unknown as EvaluateOptions
}

/**
 * Checks the keys of `o` and returns `o` when it sets an optional field other than roles and
 * params (the native side then reads them), else undefined (it reads no absent property: each
 * read is an N-API call, the dominant cost of a microsecond evaluation).
 *
 * A key that is not a context field (or not a field of a geo or device object) throws
 * `InvalidContextError` (`INVALID_CONTEXT`) naming it: a typo such as `role` for `roles` would
 * otherwise be ignored and the policy would judge a context without it. One `for...in` over
 * the own keys with a `switch`: no allocation, and it replaces the ten absent-property reads
 * that finding the optional fields would cost. A field the loop does not list but a read by
 * name finds (own and non-enumerable) throws `InvalidContextError` too, as does a hidden key
 * of a geo or a device (`hiddenKey`).
 */
export function checkedExtras(o: EvaluateOptions): EvaluateOptions | undefined {
  const r = o as unknown as Record<string, unknown>
  let extras = false
  let fields = 0
  for (const k in r) {
    fields++
    switch (k) {
      case 'principalId':
      case 'principalKind':
      case 'actionName':
      case 'roles':
      case 'params':
        continue
      case 'sessionId':
      case 'resource':
      case 'ip':
      case 'originIp': {
        // Identities and compared text: a lone surrogate would make two sessions, resources or
        // addresses one (src/well-formed.ts).
        const v = r[k]
        if (v !== undefined) extras = true
        const problem = typeof v === 'string' ? wellFormedProblem(k, v) : undefined
        if (problem !== undefined) throw new InvalidArgumentError(problem)
        continue
      }
      case 'sessionStartedAt':
      case 'actionCount':
        if (r[k] !== undefined) extras = true
        continue
      case 'currentGeo':
      case 'originGeo':
        if (r[k] !== undefined) extras = true
        checkNested(k, r[k], GEO_KEYS)
        continue
      case 'device':
      case 'originDevice': {
        const d = r[k]
        if (d !== undefined) extras = true
        checkNested(k, d, DEVICE_KEYS)
        // A fingerprint is compared with the session's: a lone surrogate would make two devices one.
        const hash: unknown = typeof d === 'object' && d !== null ? (d as { hash?: unknown }).hash : undefined
        const problem = typeof hash === 'string' ? wellFormedProblem(`${k}.hash`, hash) : undefined
        if (problem !== undefined) throw new InvalidArgumentError(problem)
        continue
      }
      default:
        throw unknownKey('context', k, CONTEXT_KEYS)
    }
  }
  // A field the loop skipped but a read by name finds (non-enumerable, or inherited
  // non-enumerable): the fast path would judge it, a copy would not. Fifteen `in` on the hot
  // path; finding which one only when the counts differ.
  if (fields !== fieldsIn(r)) {
    throw hiddenField(r, true) ?? new InvalidContextError('context: its key listing and its reads by name disagree (a Proxy?)')
  }
  return extras ? o : undefined
}

function typeProblem(field: string, v: unknown, want: 'string' | 'number' | 'object'): string | undefined {
  // `null` stands for "absent" only where the native side reads it so (roles, params).
  if (v === undefined || (v === null && field === 'params')) return undefined
  if (want === 'object' ? typeof v === 'object' && v !== null && !Array.isArray(v) : typeof v === want) return undefined
  return `${field} must be ${want === 'object' ? 'an object' : `a ${want}`} (got ${kindOf(v)})`
}

/**
 * The first field of `o` whose JS type is wrong, as a message naming it (`principalId must be
 * a string (got number)`), or undefined. Run when the native side refused the context, to
 * replace napi's conversion message (which names no field) with one that does.
 */
export function contextTypeProblem(o: Record<string, unknown>): string | undefined {
  for (const f of ['principalId', 'principalKind', 'actionName'] as const) {
    if (typeof o[f] !== 'string') return `${f} must be a string (got ${kindOf(o[f])})`
  }
  const roles = o.roles
  if (roles !== undefined && roles !== null) {
    if (!Array.isArray(roles)) return `roles must be an array of strings (got ${kindOf(roles)})`
    const p = rolesLengthProblem(roles)
    if (p !== undefined) return p
    const i = roles.findIndex((r) => typeof r !== 'string')
    if (i >= 0) return `roles[${i}] must be a string (got ${kindOf(roles[i])})`
  }
  const params = paramsShapeProblem(o.params)
  if (params !== undefined) return params
  for (const f of ['resource', 'ip', 'sessionId', 'originIp'] as const) {
    const p = typeProblem(f, o[f], 'string')
    if (p !== undefined) return p
  }
  for (const f of ['sessionStartedAt', 'actionCount'] as const) {
    const p = typeProblem(f, o[f], 'number')
    if (p !== undefined) return p
  }
  for (const f of ['params', 'currentGeo', 'originGeo', 'device', 'originDevice'] as const) {
    const p = typeProblem(f, o[f], 'object')
    if (p !== undefined) return p
  }
  for (const f of ['currentGeo', 'originGeo'] as const) {
    const g = o[f] as Record<string, unknown> | undefined | null
    if (g == null) continue
    const country = g.countryCode === undefined ? `${f}.countryCode is missing (a geo needs its country code, a string)` : typeProblem(`${f}.countryCode`, g.countryCode, 'string')
    const p = country ?? typeProblem(`${f}.region`, g.region, 'string') ??
      typeProblem(`${f}.city`, g.city, 'string') ?? typeProblem(`${f}.latitude`, g.latitude, 'number') ?? typeProblem(`${f}.longitude`, g.longitude, 'number')
    if (p !== undefined) return p
  }
  for (const f of ['device', 'originDevice'] as const) {
    const d = o[f] as Record<string, unknown> | undefined | null
    if (d == null) continue
    const hash = d.hash === undefined ? `${f}.hash is missing (a device needs its hash, a string)` : typeProblem(`${f}.hash`, d.hash, 'string')
    const p = hash ?? typeProblem(`${f}.description`, d.description, 'string')
    if (p !== undefined) return p
  }
  return undefined
}

/**
 * More roles than the core takes, as a message, or undefined. Checked before anything walks
 * the array: a sparse one may claim 2^32 - 1 elements.
 */
export function rolesLengthProblem(roles: readonly unknown[]): string | undefined {
  return roles.length > CONTEXT_MAX_ROLES ? `roles has ${roles.length} entries, over the limit of ${CONTEXT_MAX_ROLES}` : undefined
}

/**
 * Why `params` cannot be a context's params, or undefined: it must be a plain record (its
 * prototype `Object.prototype`, of this realm or another, or null). A `Map`, an array, a class instance or a primitive
 * would otherwise be read as a record without the values the caller meant (a `Map`'s entries
 * are no properties), and a cap such as an invariant on `amount` would not apply.
 */
export function paramsShapeProblem(params: unknown): string | undefined {
  if (params === undefined || params === null) return undefined
  if (typeof params === 'object' && !Array.isArray(params)) {
    const proto: unknown = Object.getPrototypeOf(params)
    if (proto === Object.prototype || proto === null) return undefined
    // A plain object of another realm (`node:vm`): its prototype is that realm's
    // `Object.prototype`, which has no prototype itself.
    if (Object.getPrototypeOf(proto) === null && Object.prototype.toString.call(params) === '[object Object]') return undefined
    const name = (proto as { constructor?: { name?: unknown } }).constructor?.name
    const what = typeof name === 'string' && name !== '' && name !== 'Object' ? `an instance of ${excerpt(name)}` : 'an object with another prototype'
    return `params must be a plain object of numbers and strings (got ${what})`
  }
  return `params must be a plain object of numbers and strings (got ${kindOf(params)})`
}

/**
 * What the general path checks before the native side reads a context (`evaluate` for
 * contexts the fast path cannot carry, `explain`): the shape problems the native conversion
 * would miss (params that are not a record) or could not survive (a huge sparse roles array).
 */
export function checkGeneralPath(o: EvaluateOptions): void {
  const roles: unknown = o.roles
  if (Array.isArray(roles)) {
    const p = rolesLengthProblem(roles)
    if (p !== undefined) bad(p)
  }
  const params: unknown = o.params
  const p = paramsShapeProblem(params)
  if (p !== undefined) bad(p)
  // A non-enumerable param escapes every key listing (the native side's included): a cap on
  // it would not apply.
  const hidden = hiddenNested('params', params)
  if (hidden !== undefined) throw hidden
}

/** A value a param can hold: a string or a finite number. */
export function isParamValue(v: unknown): v is number | string {
  return typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v))
}

/** Why `v` cannot be param `name`'s value: `param 'amount' must be a finite number or a string, got array`. */
export function paramValueProblem(name: string, v: unknown): string {
  return `param '${excerpt(name)}' must be a finite number or a string, got ${typeof v === 'number' ? String(v) : kindOf(v)}`
}

/** Checks a params record: numbers (finite) and strings only; names the offending param. `null` is no params, as `evaluate` reads it. */
export function validateParams(params: unknown): Record<string, number | string> | undefined {
  if (params === undefined || params === null) return undefined
  const shape = paramsShapeProblem(params)
  if (shape !== undefined) bad(shape)
  const hidden = hiddenNested('params', params)
  if (hidden !== undefined) throw hidden
  const out: Record<string, number | string> = {}
  for (const [name, value] of Object.entries(params as object)) {
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) bad(`param '${excerpt(name)}' must be a finite number, got ${value}`)
      setOwn(out, name, value)
    } else if (typeof value === 'string') {
      setOwn(out, name, value)
    } else {
      bad(`param '${excerpt(name)}' must be a number or a string, got ${kindOf(value)}`)
    }
  }
  return out
}

/**
 * A copy of `roles` made of its own elements: a hole would read through the prototype chain
 * (a polluted `Array.prototype[0]`), so it is an error like any non-string.
 */
function ownRoles(roles: unknown): string[] {
  if (!Array.isArray(roles)) bad(`roles must be an array of strings (got ${kindOf(roles)})`)
  const tooMany = rolesLengthProblem(roles)
  if (tooMany !== undefined) bad(tooMany)
  const out: string[] = []
  for (let i = 0; i < roles.length; i++) {
    const r: unknown = Object.hasOwn(roles, i) ? roles[i] : undefined
    if (typeof r !== 'string') bad(`roles[${i}] must be a string (got ${Object.hasOwn(roles, i) ? kindOf(r) : 'a hole'})`)
    out.push(r)
  }
  return out
}

function device(field: string, v: unknown): DeviceInput | undefined {
  if (v === undefined) return undefined
  if (typeof v !== 'object' || v === null) bad(`${field} must be an object { hash, description? }`)
  const d = ownFields(v)
  return { hash: requiredString(`${field}.hash`, d.hash), description: optionalString(`${field}.description`, d.description) }
}

function geo(field: string, v: unknown): GeoLocationInput | undefined {
  if (v === undefined) return undefined
  if (v instanceof GeoLocation) return v.toInput()
  if (typeof v !== 'object' || v === null) bad(`${field} must be a GeoLocation or { countryCode, ... }`)
  const g = ownFields(v)
  return new GeoLocation(requiredString(`${field}.countryCode`, g.countryCode), {
    region: optionalString(`${field}.region`, g.region),
    city: optionalString(`${field}.city`, g.city),
    latitude: g.latitude as number | undefined,
    longitude: g.longitude as number | undefined,
  }, field).toInput()
}

/** The keys of `GeoLocation`'s options: a geo's fields but its country code (an argument of its own). */
const GEO_OPTION_KEYS = GEO_KEYS.filter((k) => k !== 'countryCode')

/**
 * Refuses a latitude without a longitude or the reverse: the gate reads half a pair as no
 * coordinates at all, so a geo drift threshold would find the distance unmeasurable.
 */
function checkCoordinatePair(field: string, latitude: unknown, longitude: unknown): void {
  if ((latitude === undefined) === (longitude === undefined)) return
  const [given, missing] = latitude === undefined ? ['longitude', 'latitude'] : ['latitude', 'longitude']
  bad(`${field}.${missing} is missing: ${field}.${given} is given, and coordinates are a pair (latitude and longitude, or neither)`)
}

/**
 * A place: country code plus optional region, city and coordinates. Validated on construction:
 * an unknown option is refused as in a plain geo record, and so is half a coordinate pair.
 */
export class GeoLocation implements GeoLocationInput {
  readonly countryCode: string
  readonly region?: string
  readonly city?: string
  readonly latitude?: number
  readonly longitude?: number

  constructor(
    countryCode: string,
    opts: { region?: string; city?: string; latitude?: number; longitude?: number } = {},
    field = 'GeoLocation',
  ) {
    // `field` labels errors when a context's geo is built from a record (`currentGeo`).
    if (typeof field !== 'string') field = 'GeoLocation'
    opts = optionalObjectArgument(field, 'options', opts) ?? {}
    // A misspelt key (`lat`, `lng`) would leave the place without what the caller meant.
    checkNested(field, opts, GEO_OPTION_KEYS)
    this.countryCode = requiredString(`${field}.countryCode`, countryCode)
    this.region = optionalString(`${field}.region`, opts.region)
    this.city = optionalString(`${field}.city`, opts.city)
    if (opts.latitude !== undefined && !(typeof opts.latitude === 'number' && Number.isFinite(opts.latitude) && Math.abs(opts.latitude) <= 90)) {
      bad(`${field}.latitude must be a number between -90 and 90, got ${typeof opts.latitude === 'number' ? opts.latitude : kindOf(opts.latitude)}`)
    }
    if (opts.longitude !== undefined && !(typeof opts.longitude === 'number' && Number.isFinite(opts.longitude) && Math.abs(opts.longitude) <= 180)) {
      bad(`${field}.longitude must be a number between -180 and 180, got ${typeof opts.longitude === 'number' ? opts.longitude : kindOf(opts.longitude)}`)
    }
    checkCoordinatePair(field, opts.latitude, opts.longitude)
    this.latitude = opts.latitude
    this.longitude = opts.longitude
    Object.freeze(this)
  }

  /** The plain record the gate reads. */
  toInput(): GeoLocationInput {
    const out: GeoLocationInput = { countryCode: this.countryCode }
    if (this.region !== undefined) out.region = this.region
    if (this.city !== undefined) out.city = this.city
    if (this.latitude !== undefined) out.latitude = this.latitude
    if (this.longitude !== undefined) out.longitude = this.longitude
    return out
  }
}

/** The input of `new ActionContext(...)`: `EvaluateOptions`, with `GeoLocation` instances allowed. */
export type ActionContextInput = Omit<EvaluateOptions, 'currentGeo' | 'originGeo'> & {
  currentGeo?: GeoLocationInput | GeoLocation
  originGeo?: GeoLocationInput | GeoLocation
}

/**
 * One attempted action, validated once on construction (wrong types, unknown principal kinds,
 * non-finite or non-scalar params throw `InvalidArgumentError` naming the field). Reusable
 * across evaluations.
 */
export class ActionContext {
  /** The validated record handed to the gate as-is. */
  readonly options: Readonly<EvaluateOptions>

  constructor(context: ActionContextInput) {
    if (typeof context !== 'object' || context === null) bad('ActionContext needs an object')
    // Own fields only: an inherited `roles` (a polluted Object.prototype) is never read. A
    // non-enumerable one is refused, as `evaluate` refuses it.
    const hidden = hiddenField(context, false)
    if (hidden !== undefined) throw hidden
    const input = ownFields(context) as ActionContextInput
    checkedExtras(input as EvaluateOptions)
    const kind = input.principalKind
    if (!PRINCIPAL_KINDS.includes(kind)) {
      bad(`principalKind must be one of ${PRINCIPAL_KINDS.join(', ')}, got ${typeof kind === 'string' ? `'${excerpt(kind)}'` : kindOf(kind)}`)
    }
    const o: EvaluateOptions = {
      principalId: requiredString('principalId', input.principalId),
      principalKind: kind,
      actionName: requiredString('actionName', input.actionName),
    }
    // `roles: null` and `params: null` are absent, as `evaluate` and `explain` read them.
    if (input.roles !== undefined && input.roles !== null) o.roles = ownRoles(input.roles)
    const set = <K extends keyof EvaluateOptions>(k: K, v: EvaluateOptions[K] | undefined): void => {
      if (v !== undefined) o[k] = v
    }
    set('resource', optionalString('resource', input.resource))
    set('params', validateParams(input.params))
    set('ip', optionalString('ip', input.ip))
    set('sessionId', optionalString('sessionId', input.sessionId))
    set('originIp', optionalString('originIp', input.originIp))
    set('currentGeo', geo('currentGeo', input.currentGeo))
    set('originGeo', geo('originGeo', input.originGeo))
    set('device', device('device', input.device))
    set('originDevice', device('originDevice', input.originDevice))
    set('sessionStartedAt', optionalWhole('sessionStartedAt', input.sessionStartedAt))
    set('actionCount', optionalWhole('actionCount', input.actionCount))
    this.options = Object.freeze(o)
    Object.freeze(this)
  }

  get principalId(): string { return this.options.principalId }
  get principalKind(): PrincipalKind { return this.options.principalKind }
  get actionName(): string { return this.options.actionName }
  get roles(): readonly string[] { return this.options.roles ?? [] }
  get resource(): string | undefined { return this.options.resource }
  get params(): Readonly<Record<string, number | string>> { return this.options.params ?? {} }
  get sessionId(): string | undefined { return this.options.sessionId }
}
