// Option checks, shared by every class that takes an options object: the gate's factories
// (here) and the crypto and Redis classes (src/channel.ts, audit.ts, pq.ts, redis.ts). This
// module checks what the native conversion cannot report well: unknown names (napi ignores
// them) and the JS type of each value (napi would say "failed to convert" without the name).
// The native side checks values: ranges, integers, class instances. Gate options throw
// `InvalidOptionsError` (`INVALID_OPTIONS`), as the native gate does (options.rs); the other
// classes `InvalidArgumentError` (`INVALID_ARGUMENT`), as their native checks do.
//
// Only own properties count: napi reads fields through the prototype chain, so the native
// side receives a null-prototype copy, and an inherited `observeOnly` or `hybrid` (a polluted
// `Object.prototype`, or `Object.create({ observeOnly: true })`) is never honoured. JS hook
// options (`FieldChecks.inherited`) are read through the object's own prototypes as well,
// never through `Object.prototype`.

import { PqTokenSigner } from '../binding.js'
import type {
  InMemoryInvalidationBroadcaster,
  GateOptions as NativeGateOptions,
  RedisInvalidationBroadcaster,
  RedisRateLimitStore,
  RedisSessionStore,
  SignedAuditChain,
} from '../binding.js'
import { InvalidOptionsError, type KavachErrorClass, excerpt, kindOf } from './errors.js'
import { isRecord, ownFields } from './own-properties.js'
import { wellFormedProblem } from './well-formed.js'
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

/** Checks the JS type of the value at `path` and returns what the native side receives. */
export type Check = (path: string, v: unknown) => unknown

/** The accepted names of one kind of object, each with its check. */
export interface FieldChecks<T> {
  /**
   * Names the object in messages: `<what> must be an object`, `<what>: unknown option(s) 'x'`,
   * `<what>: option 'x': must be a boolean`.
   */
  readonly what: string
  /** What a name is called in messages: `option`, or `field` for data (a token, a key record). */
  readonly noun: 'option' | 'field'
  /** One check per name of `T`: the type requires every name, so one added natively is not refused. */
  readonly checks: Readonly<Record<keyof T, Check>>
  /**
   * The names `T` does not mark optional, every one of them (the type says which). A missing
   * one is named here: the native conversion would say "Missing field `x`" without the call or
   * the object, and a JS hook option (`guarded`'s `action`) would fail only when called.
   */
  readonly required?: { readonly [K in RequiredKeys<T>]: true }
  /**
   * JS hook options only (integrations, `guarded`), never options the native side receives:
   * names are also read from the object's prototypes, except `Object.prototype`, so a class
   * instance (methods on its prototype) and `Object.create(defaults)` are read as given, and
   * a polluted `Object.prototype.identify` is still not. Unknown names are the enumerable ones
   * of the object and those prototypes: a class's helper methods are not enumerable.
   */
  readonly inherited?: true
  readonly error: KavachErrorClass
}

/** The names of `T` whose value may not be left out. */
type RequiredKeys<T> = { [K in keyof T]-?: undefined extends T[K] ? never : K }[keyof T]

/** A failed check; `checkedFields` rethrows it as the error class of the object checked. */
class CheckFailure extends Error {
  constructor(
    readonly path: string,
    readonly problem: string,
  ) {
    super(problem)
  }
}

/** Unknown names as a message lists them: the first few, each cut short, then how many more. */
export function quotedNames(names: readonly string[]): string {
  const shown = names.slice(0, 5).map((k) => `'${excerpt(k)}'`)
  return names.length > shown.length ? `${shown.join(', ')} and ${names.length - shown.length} more` : shown.join(', ')
}

function fail(path: string, problem: string): never {
  throw new CheckFailure(path, problem)
}

export const boolean: Check = (option, v) => (typeof v === 'boolean' ? v : fail(option, `must be a boolean, got ${kindOf(v)}`))
export const number: Check = (option, v) => (typeof v === 'number' ? v : fail(option, `must be a number, got ${kindOf(v)}`))
/** A well-formed string (src/well-formed.ts: a lone surrogate would reach the native side as U+FFFD). */
export const string: Check = (option, v) => {
  if (typeof v !== 'string') fail(option, `must be a string, got ${kindOf(v)}`)
  const problem = wellFormedProblem('it', v)
  return problem === undefined ? v : fail(option, problem)
}
/** Bytes: a Buffer or another Uint8Array, as the native side accepts. */
export const bytes: Check = (option, v) => (v instanceof Uint8Array ? v : fail(option, `must be a Buffer, got ${kindOf(v)}`))
/** Any value: the native side ignores it (a permit token's `signature`). */
export const ignored: Check = (_option, v) => v
/** A native class instance; which class is checked natively (napi type tags). */
export const instance =
  (what: string): Check =>
  (option, v) =>
    typeof v === 'object' && v !== null ? v : fail(option, `must be a ${what} instance, got ${kindOf(v)}`)
/** A plain object (not an array); its user checks what it holds. */
export const object: Check = (option, v) => (isRecord(v) ? v : fail(option, `must be an object, got ${kindOf(v)}`))
/** An array whose every element passes `check`, copied element by element (a hole is `undefined`). */
export const arrayOf =
  (check: Check): Check =>
  (option, v) => {
    if (!Array.isArray(v)) fail(option, `must be an array, got ${kindOf(v)}`)
    return Array.from({ length: v.length }, (_, i) => check(`${option}[${i}]`, Object.hasOwn(v, i) ? v[i] : undefined))
  }
/** A value that passes one of `checks`; `want` says what they accept (`a string or a function`). */
export const oneOf =
  (want: string, ...checks: Check[]): Check =>
  (option, v) => {
    for (const check of checks) {
      try {
        return check(option, v)
      } catch (e) {
        if (!(e instanceof CheckFailure)) throw e
      }
    }
    return fail(option, `must be ${want}, got ${kindOf(v)}`)
  }

/** Own fields of `v` (a plain object), rejecting names outside `known`. */
function record(option: string, v: unknown, known: readonly string[]): Record<string, unknown> {
  if (!isRecord(v)) fail(option, `must be an object, got ${kindOf(v)}`)
  const fields = ownFields(v)
  const unknown = Object.keys(fields).filter((k) => !known.includes(k))
  if (unknown.length > 0) fail(option, `unknown field(s) ${quotedNames(unknown)}`)
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
  if (!Array.isArray(v)) fail(option, `must be an array, got ${kindOf(v)}`)
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

/**
 * A `PqTokenSigner` that holds its signing keys: a verifier-only signer would refuse every
 * permit (`IDENTITY_FAILED`), so the gate is refused at construction instead.
 */
const tokenSigner: Check = (option, v) => {
  const signer = instance('PqTokenSigner')(option, v)
  if (signer instanceof PqTokenSigner && !signer.canSign) {
    fail(option, `signer '${excerpt(signer.keyId)}' is verifier only (canSign is false): a gate needs a signer that can sign its permits`)
  }
  return signer
}

/** A function (a hook: `onVerdict`, an integration's `identify`). */
export const fn: Check = (option, v) => (typeof v === 'function' ? v : fail(option, `must be a function, got ${kindOf(v)}`))

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
  tokenSigner,
  permitTtlSeconds: number,
  rateStore: instance('RedisRateLimitStore'),
  sessionStore: instance('RedisSessionStore'),
  broadcaster: instance('InMemoryInvalidationBroadcaster or RedisInvalidationBroadcaster'),
  audit: instance('SignedAuditChain'),
  invalidationTtlSeconds: number,
  maxClockSkewSeconds: number,
  maxPendingEvaluations: number,
  sessionIdleSeconds: number,
  testClock,
  telemetry,
  onVerdict: fn,
}

/**
 * The own-property copy of `v` (a plain object) that the native side receives (or, with
 * `spec.inherited`, the copy of its known names as `inheritedFields` reads them), in a
 * null-prototype object, once every name and value type is checked: throws `spec.error`
 * naming what is wrong. `undefined` values count as absent.
 */
export function checkedFields<T>(spec: FieldChecks<T>, v: unknown): T {
  if (!isRecord(v)) throw new spec.error(`${spec.what} must be an object, got ${kindOf(v)}`)
  const checks = spec.checks as Readonly<Record<string, Check>>
  const given = spec.inherited === true ? inheritedFields(v, Object.keys(checks)) : ownFields(v)
  const named = spec.inherited === true ? enumerableNames(v) : Object.keys(given)
  const unknown = named.filter((k) => !Object.hasOwn(checks, k))
  if (unknown.length > 0) {
    throw new spec.error(`${spec.what}: unknown ${spec.noun}(s) ${quotedNames(unknown)}`)
  }
  const missing = Object.keys(spec.required ?? {}).filter((k) => given[k] === undefined)
  if (missing.length > 0) {
    throw new spec.error(`${spec.what}: missing ${spec.noun}(s) ${quotedNames(missing)}`)
  }
  const out = Object.create(null) as Record<string, unknown>
  try {
    for (const key of Object.keys(given)) if (given[key] !== undefined) out[key] = checks[key]!(key, given[key])
  } catch (e) {
    if (e instanceof CheckFailure) throw new spec.error(`${spec.what}: ${spec.noun} '${e.path}': ${e.problem}`)
    throw e
  }
  return out as T
}

/** `v` and its prototypes, up to (without) `Object.prototype`: where hook options are read. */
function optionChain(v: object): object[] {
  const chain: object[] = []
  for (let o: object | null = v; o !== null && o !== Object.prototype; o = Object.getPrototypeOf(o) as object | null) chain.push(o)
  return chain
}

/**
 * The values of the `known` names of `v`, in a null-prototype object. Each is read once, by
 * name through `v` (a getter on a prototype sees `v` as its object, a Proxy's `get` trap
 * answers), unless the value comes from `Object.prototype`: the name is on no object of
 * `optionChain(v)` and `Object.prototype` has it (a polluted `Object.prototype.identify`).
 */
export function inheritedFields(v: object, known: readonly string[]): Record<string, unknown> {
  const chain = optionChain(v)
  const out = Object.create(null) as Record<string, unknown>
  for (const key of known) {
    const polluted = Object.hasOwn(Object.prototype, key) && !chain.some((o) => Object.hasOwn(o, key))
    if (polluted) continue
    const value = (v as Record<string, unknown>)[key]
    if (value !== undefined) out[key] = value
  }
  return out
}

/** The enumerable string names of `optionChain(v)`, each once. */
export function enumerableNames(v: object): string[] {
  const names = new Set<string>()
  for (const o of optionChain(v)) for (const key of Object.keys(o)) names.add(key)
  return [...names]
}

/**
 * `f` (a hook read by `checkedFields` from `self`) called as a method of `self`, as
 * `self.hook(...)` would call it: a class instance's hook can read its own fields.
 */
export function methodOf<A extends unknown[], R>(self: object, f: (...args: A) => R): (...args: A) => R {
  return (...args) => f.apply(self, args)
}

/** `checkedFields` for optional options: `null` and `undefined` mean "no options". */
export function checkedOptions<T>(spec: FieldChecks<T>, v: T | null | undefined): T | undefined {
  return v === undefined || v === null ? undefined : checkedFields(spec, v)
}

/**
 * `checkedFields` for a required argument. `null` and `undefined` are passed on as they are:
 * the native call names the missing argument (src/native-errors.ts).
 */
export function checkedArgument<T>(spec: FieldChecks<T>, v: T): T {
  return v === undefined || v === null ? v : checkedFields(spec, v)
}

const GATE_OPTIONS: FieldChecks<GateOptions> = { what: 'gate options', noun: 'option', checks: CHECKS, error: InvalidOptionsError }

/**
 * Checks option names and types (throws `InvalidOptionsError` naming the option) and returns
 * the copy the native side receives: own properties only, in a null-prototype object.
 * `undefined` values count as absent.
 */
export function validateGateOptions(options: GateOptions | undefined | null): GateOptions | undefined {
  const given = checkedOptions(GATE_OPTIONS, options) as Record<string, unknown> | undefined
  if (given === undefined) return undefined
  const out = Object.create(null) as Record<string, unknown>
  const hooks: Record<string, unknown> = {}
  for (const key of Object.keys(given)) {
    if (JS_ONLY.has(key)) hooks[key] = given[key]
    else out[key] = given[key]
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
