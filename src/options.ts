// Gate options, checked once at construction (never on evaluate). This module checks what the
// native conversion cannot report well: unknown option names, and the JS type of each option
// (napi would say "failed to convert" without the name, and ignores unknown keys). The native
// side (crates/kavach-node/src/options.rs) checks values: ranges, integers, class instances.
// Both name the option and throw `InvalidOptionsError` (`INVALID_OPTIONS`).
//
// Only own properties count: the native side receives a null-prototype copy, so an inherited
// `observeOnly` (a polluted `Object.prototype`, or `Object.create({ observeOnly: true })`)
// is never honoured.

import type {
  InMemoryInvalidationBroadcaster,
  GateOptions as NativeGateOptions,
  PqTokenSigner,
  RedisInvalidationBroadcaster,
  RedisRateLimitStore,
  RedisSessionStore,
  SignedAuditChain,
} from '../binding.js'
import { InvalidOptionsError } from './errors.js'
import { isRecord, ownFields } from './own-properties.js'
import type { GateHooks, OnVerdict, TelemetryOptions } from './telemetry.js'

export type { Condition, Policy, PolicySetInput } from './schema.js'

/** Options accepted by every gate factory (see README, "Gate options"). */
export type GateOptions = Omit<NativeGateOptions, 'tokenSigner' | 'rateStore' | 'sessionStore' | 'broadcaster' | 'audit'> & {
  /** Sign every Permit; a signing failure refuses (`IDENTITY_FAILED`). */
  tokenSigner?: PqTokenSigner
  /** Shared rate-limit counters instead of the in-process ones. */
  rateStore?: RedisRateLimitStore
  /** Shared session state instead of the in-process store. */
  sessionStore?: RedisSessionStore
  /** Publish every Invalidate, and honour the ones heard. */
  broadcaster?: InMemoryInvalidationBroadcaster | RedisInvalidationBroadcaster
  /** Append every verdict to a signed audit chain. */
  audit?: SignedAuditChain
  /** OpenTelemetry verdict counter, latency histogram and a span per evaluation (src/telemetry.ts). */
  telemetry?: boolean | TelemetryOptions
  /** Called once per verdict; an error it throws is reported, never thrown into the evaluation. */
  onVerdict?: OnVerdict
}

type Check = (option: string, v: unknown) => unknown

function fail(option: string, message: string): never {
  throw new InvalidOptionsError(`option '${option}': ${message}`)
}

function typeName(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v
}

const boolean: Check = (option, v) => (typeof v === 'boolean' ? v : fail(option, `must be a boolean, got ${typeName(v)}`))
const number: Check = (option, v) => (typeof v === 'number' ? v : fail(option, `must be a number, got ${typeName(v)}`))
/** A native class instance; which class is checked natively (napi type tags). */
const instance =
  (what: string): Check =>
  (option, v) =>
    typeof v === 'object' && v !== null ? v : fail(option, `must be a ${what} instance, got ${typeName(v)}`)

/** Own fields of `v` (a plain object), rejecting names outside `known`. */
function record(option: string, v: unknown, known: readonly string[]): Record<string, unknown> {
  if (!isRecord(v)) fail(option, `must be an object, got ${typeName(v)}`)
  const fields = ownFields(v)
  const unknown = Object.keys(fields).filter((k) => !known.includes(k))
  if (unknown.length > 0) fail(option, `unknown field(s) ${unknown.map((k) => `'${k}'`).join(', ')}`)
  return fields
}

/** `{ name, field, maxValue }` or the Python SDK's `[name, field, max]` tuple. */
function invariant(option: string, v: unknown): unknown {
  if (Array.isArray(v)) {
    if (v.length !== 3) fail(option, `a tuple must be [name, field, max], got ${v.length} element(s)`)
    const [name, field, max] = [v[0], v[1], v[2]] as unknown[]
    if (typeof name !== 'string' || typeof field !== 'string' || typeof max !== 'number') {
      fail(option, 'a tuple must be [name: string, field: string, max: number]')
    }
    return [name, field, max]
  }
  const o = record(option, v, ['name', 'field', 'maxValue'])
  if (typeof o.name !== 'string' || typeof o.field !== 'string' || typeof o.maxValue !== 'number') {
    fail(option, 'must be { name: string, field: string, maxValue: number }')
  }
  return o
}

const invariants: Check = (option, v) => {
  if (!Array.isArray(v)) fail(option, `must be an array, got ${typeName(v)}`)
  return Array.from({ length: v.length }, (_, i) => invariant(`${option}[${i}]`, Object.hasOwn(v, i) ? v[i] : undefined))
}

const testClock: Check = (option, v) => {
  const o = record(option, v, ['nowMs', 'offsetMs'])
  for (const k of Object.keys(o)) if (o[k] !== undefined) number(`${option}.${k}`, o[k])
  return o
}

const telemetry: Check = (option, v) => {
  // Checked here, before any native gate exists: the API is an optional peer dependency.
  if (v !== false) {
    try {
      require.resolve('@opentelemetry/api')
    } catch {
      fail(option, 'needs the optional peer dependency @opentelemetry/api (npm install @opentelemetry/api)')
    }
  }
  if (typeof v === 'boolean') return v
  const o = record(option, v, ['meterProvider', 'tracerProvider'])
  for (const k of Object.keys(o)) if (o[k] !== undefined) instance(k === 'meterProvider' ? 'MeterProvider' : 'TracerProvider')(`${option}.${k}`, o[k])
  return o
}

const fn: Check = (option, v) => (typeof v === 'function' ? v : fail(option, `must be a function, got ${typeName(v)}`))

/** Options handled in JavaScript (src/telemetry.ts): never passed to the native side. */
const JS_ONLY: ReadonlySet<string> = new Set<keyof GateHooks>(['telemetry', 'onVerdict'])
/** The JS-only options of each validated copy (the copy itself holds only native options). */
const hooksOfCopy = new WeakMap<object, GateHooks>()

const CHECKS: Record<keyof GateOptions, Check> = {
  invariants,
  observeOnly: boolean,
  maxSessionActions: number,
  enableDrift: boolean,
  geoDriftMaxKm: number,
  tokenSigner: instance('PqTokenSigner'),
  permitTtlSeconds: number,
  rateStore: instance('RedisRateLimitStore'),
  sessionStore: instance('RedisSessionStore'),
  broadcaster: instance('InMemoryInvalidationBroadcaster or RedisInvalidationBroadcaster'),
  audit: instance('SignedAuditChain'),
  invalidationTtlSeconds: number,
  maxClockSkewSeconds: number,
  maxPendingEvaluations: number,
  testClock,
  telemetry,
  onVerdict: fn,
}

/**
 * Checks option names and types (throws `InvalidOptionsError` naming the option) and returns
 * the copy the native side receives: own properties only, in a null-prototype object.
 * `undefined` values count as absent.
 */
export function validateGateOptions(options: GateOptions | undefined | null): GateOptions | undefined {
  if (options === undefined || options === null) return undefined
  if (!isRecord(options)) throw new InvalidOptionsError(`gate options must be an object, got ${typeName(options)}`)
  const given = ownFields(options)
  const unknown = Object.keys(given).filter((k) => !Object.hasOwn(CHECKS, k))
  if (unknown.length > 0) throw new InvalidOptionsError(`gate options: unknown option(s) ${unknown.map((k) => `'${k}'`).join(', ')}`)
  const out = Object.create(null) as Record<string, unknown>
  const hooks: Record<string, unknown> = {}
  for (const key of Object.keys(given)) {
    if (given[key] === undefined) continue
    const value = CHECKS[key as keyof GateOptions](key, given[key])
    if (JS_ONLY.has(key)) hooks[key] = value
    else out[key] = value
  }
  if (Object.keys(hooks).length > 0) hooksOfCopy.set(out, hooks as GateHooks)
  return out as GateOptions
}

/** The JS-only options (`telemetry`, `onVerdict`) given with a copy from `validateGateOptions`. */
export function gateHooks(validated: GateOptions | undefined): GateHooks | undefined {
  return validated === undefined ? undefined : hooksOfCopy.get(validated)
}

/**
 * The policy language as JSON Schema (draft 2020-12), for editors and other tools. Loads the
 * zod schemas (`kavach-sdk/schema`) on first call.
 */
export function policyJsonSchema(): Record<string, unknown> {
  return (require('./schema.js') as typeof import('./schema.js')).policyJsonSchema()
}
