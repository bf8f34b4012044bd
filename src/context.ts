// Context builders that validate eagerly (the Python SDK's `ActionContext(...)` and
// `GeoLocation(...)`). A plain `EvaluateOptions` object works everywhere too; the native side
// validates it on every call.

import type { DeviceInput, EvaluateOptions, GeoLocationInput } from '../binding.js'
import { InvalidArgumentError } from './errors.js'
import { ownFields } from './own-properties.js'

export type { DeviceInput, EvaluateOptions, GeoLocationInput }
export type PrincipalKind = EvaluateOptions['principalKind']
export const PRINCIPAL_KINDS: readonly PrincipalKind[] = ['user', 'agent', 'service', 'scheduler', 'external']

function bad(message: string): never {
  throw new InvalidArgumentError(message)
}

function optionalString(field: string, v: unknown): string | undefined {
  if (v === undefined) return undefined
  if (typeof v !== 'string') bad(`${field} must be a string, got ${typeof v}`)
  return v
}

function requiredString(field: string, v: unknown): string {
  if (typeof v !== 'string' || v.length === 0) bad(`${field} must be a non-empty string`)
  return v
}

function optionalWhole(field: string, v: unknown): number | undefined {
  if (v === undefined) return undefined
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    bad(`${field} must be a non-negative integer, got ${String(v)}`)
  }
  return v
}

/** Checks a params record: numbers (finite) and strings only; names the offending param. */
export function validateParams(params: unknown): Record<string, number | string> | undefined {
  if (params === undefined) return undefined
  if (typeof params !== 'object' || params === null || Array.isArray(params)) {
    bad('params must be an object of numbers and strings')
  }
  const out: Record<string, number | string> = {}
  for (const [name, value] of Object.entries(params)) {
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) bad(`param '${name}' must be a finite number, got ${value}`)
      out[name] = value
    } else if (typeof value === 'string') {
      out[name] = value
    } else {
      bad(`param '${name}' must be a number or a string, got ${value === null ? 'null' : typeof value}`)
    }
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

/** A place: country code plus optional region, city and coordinates. Validated on construction. */
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
    this.countryCode = requiredString(`${field}.countryCode`, countryCode)
    this.region = optionalString(`${field}.region`, opts.region)
    this.city = optionalString(`${field}.city`, opts.city)
    if (opts.latitude !== undefined && !(typeof opts.latitude === 'number' && Number.isFinite(opts.latitude) && Math.abs(opts.latitude) <= 90)) {
      bad(`${field}.latitude must be a number between -90 and 90, got ${String(opts.latitude)}`)
    }
    if (opts.longitude !== undefined && !(typeof opts.longitude === 'number' && Number.isFinite(opts.longitude) && Math.abs(opts.longitude) <= 180)) {
      bad(`${field}.longitude must be a number between -180 and 180, got ${String(opts.longitude)}`)
    }
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
    // Own fields only: an inherited `roles` (a polluted Object.prototype) is never read.
    const input = ownFields(context) as ActionContextInput
    const kind = input.principalKind
    if (!PRINCIPAL_KINDS.includes(kind)) {
      bad(`principalKind must be one of ${PRINCIPAL_KINDS.join(', ')}, got '${String(kind)}'`)
    }
    const o: EvaluateOptions = {
      principalId: requiredString('principalId', input.principalId),
      principalKind: kind,
      actionName: requiredString('actionName', input.actionName),
    }
    if (input.roles !== undefined) {
      if (!Array.isArray(input.roles) || !input.roles.every((r) => typeof r === 'string')) bad('roles must be an array of strings')
      o.roles = [...input.roles]
    }
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
