// Typed errors. Native errors cross the boundary with a stable string `code` (see
// crates/kavach-node/src/error.rs); this file maps each code to one subclass, in ONE table,
// and turns verdicts into `Refused` / `Invalidated` for check() and guarded().

import type { ScopeView, Verdict } from '../binding.js'

/** Base class of every misuse/failure error the SDK throws. `code` is stable; match on it. */
export class KavachError extends Error {
  readonly code: string
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options)
    this.code = code
    this.name = new.target.name
  }
}

export type KavachErrorClass = new (message: string, options?: ErrorOptions) => KavachError

const byCode = new Map<string, KavachErrorClass>()

/** Declares the subclass for `code` and registers it in the code table. */
function defineError<N extends string>(code: string, name: N): KavachErrorClass {
  const cls = {
    [name]: class extends KavachError {
      constructor(message: string, options?: ErrorOptions) {
        super(code, message, options)
        this.name = name
      }
    },
  }[name] as KavachErrorClass
  byCode.set(code, cls)
  return cls
}

// --- the code table: one line per stable code (other capabilities append theirs here) ---
/** A policy document that cannot be loaded; the message names the policy and the key. */
export const PolicyParseError = defineError('POLICY_PARSE', 'PolicyParseError')
/** A wrong argument at a call (context field, param value, scope kind...). */
export const InvalidArgumentError = defineError('INVALID_ARGUMENT', 'InvalidArgumentError')
/** A context the gate cannot read as given: an unknown key (a typo such as `role` for `roles`). */
export const InvalidContextError = defineError('INVALID_CONTEXT', 'InvalidContextError')
/** Gate options that cannot be honoured; the message names the option. */
export const InvalidOptionsError = defineError('INVALID_OPTIONS', 'InvalidOptionsError')
/** A store that cannot be reached at connect time. */
export const StoreUnavailableError = defineError('STORE_UNAVAILABLE', 'StoreUnavailableError')
/** Sync `evaluate()` / a sync guarded function on a gate with network stores. */
export const SyncNotSupportedError = defineError('SYNC_NOT_SUPPORTED', 'SyncNotSupportedError')
/** A signature that does not verify (tampered, wrong key, downgrade). */
export const SignatureInvalidError = defineError('SIGNATURE_INVALID', 'SignatureInvalidError')
/** No public key with this id in the directory. */
export const KeyNotFoundError = defineError('KEY_NOT_FOUND', 'KeyNotFoundError')
/** The signing key (or token) has expired. */
export const KeyExpiredError = defineError('KEY_EXPIRED', 'KeyExpiredError')
/** A message or token seen before. */
export const ReplayError = defineError('REPLAY', 'ReplayError')
/** Key bytes of the wrong length or form. */
export const InvalidKeyError = defineError('INVALID_KEY', 'InvalidKeyError')
/** A file that cannot be read or written. */
export const IoError = defineError('IO', 'IoError')
/** A bug on our side reported as an error instead of a crash. */
export const InternalError = defineError('INTERNAL', 'InternalError')
/** An audit chain that fails verification; the message names `entry <n>` and what broke. */
export const ChainInvalidError = defineError('CHAIN_INVALID', 'ChainInvalidError')
/** An append to an audit chain after `close()`. */
export const ChainClosedError = defineError('CHAIN_CLOSED', 'ChainClosedError')
/** A channel message bound to another context than the expected one. */
export const ContextMismatchError = defineError('CONTEXT_MISMATCH', 'ContextMismatchError')
/** A sealed message that cannot be opened (wrong recipient, modified bytes, missing X25519 leg). */
export const DecryptionFailedError = defineError('DECRYPTION_FAILED', 'DecryptionFailedError')
/** A signature envelope of the wrong mode (hybrid vs PQ-only): the downgrade defence. */
export const AlgorithmMismatchError = defineError('ALGORITHM_MISMATCH', 'AlgorithmMismatchError')
/** A key-directory manifest that is malformed or has bad bundles. */
export const ManifestInvalidError = defineError('MANIFEST_INVALID', 'ManifestInvalidError')
/** An exported secret that the passphrase does not open (wrong passphrase or modified bytes). */
export const PassphraseInvalidError = defineError('PASSPHRASE_INVALID', 'PassphraseInvalidError')
/** Malformed bytes or JSON (bundle, envelope, exported secret). */
export const FormatInvalidError = defineError('FORMAT_INVALID', 'FormatInvalidError')
/** Signing could not complete (verifier-only signer, randomness unavailable). */
export const SigningFailedError = defineError('SIGNING_FAILED', 'SigningFailedError')
/** The operating system's random number generator failed. */
export const RngFailedError = defineError('RNG_FAILED', 'RngFailedError')
// --- end of code table ---

export type PolicyParseError = InstanceType<typeof PolicyParseError>
export type InvalidArgumentError = InstanceType<typeof InvalidArgumentError>
export type InvalidContextError = InstanceType<typeof InvalidContextError>
export type InvalidOptionsError = InstanceType<typeof InvalidOptionsError>
export type StoreUnavailableError = InstanceType<typeof StoreUnavailableError>
export type SyncNotSupportedError = InstanceType<typeof SyncNotSupportedError>
export type SignatureInvalidError = InstanceType<typeof SignatureInvalidError>
export type KeyNotFoundError = InstanceType<typeof KeyNotFoundError>
export type KeyExpiredError = InstanceType<typeof KeyExpiredError>
export type ReplayError = InstanceType<typeof ReplayError>
export type InvalidKeyError = InstanceType<typeof InvalidKeyError>
export type IoError = InstanceType<typeof IoError>
export type InternalError = InstanceType<typeof InternalError>
export type ChainInvalidError = InstanceType<typeof ChainInvalidError>
export type ChainClosedError = InstanceType<typeof ChainClosedError>
export type ContextMismatchError = InstanceType<typeof ContextMismatchError>
export type DecryptionFailedError = InstanceType<typeof DecryptionFailedError>
export type AlgorithmMismatchError = InstanceType<typeof AlgorithmMismatchError>
export type ManifestInvalidError = InstanceType<typeof ManifestInvalidError>
export type PassphraseInvalidError = InstanceType<typeof PassphraseInvalidError>
export type FormatInvalidError = InstanceType<typeof FormatInvalidError>
export type SigningFailedError = InstanceType<typeof SigningFailedError>
export type RngFailedError = InstanceType<typeof RngFailedError>

/** napi's own conversion failures (a wrong JS type before our code runs) are argument errors. */
const NAPI_ARGUMENT_STATUSES = new Set([
  'InvalidArg',
  'ObjectExpected',
  'StringExpected',
  'NameExpected',
  'FunctionExpected',
  'NumberExpected',
  'BooleanExpected',
  'ArrayExpected',
  'BigintExpected',
  'DateExpected',
  'ArrayBufferExpected',
  'DetachableArraybufferExpected',
])

/**
 * napi-rs's wording for a value of the wrong type ("Failed to convert JavaScript value `…` into
 * rust type `String`", "Failed to recover `KavachKeyPair` type from napi value", "Value is not
 * an instance of class `KavachKeyPair`", and for a string, number or ArrayBuffer where a Buffer
 * belongs "Failed to create reference from Buffer" / "Failed to get Buffer pointer and
 * length"), which names neither the call nor the argument and may quote the whole value, and
 * the array reader's "expected an array" (crates/kavach-node/src/dense_array.rs). Other
 * messages with a napi status say what is wrong themselves ("element 1 of the array is a
 * hole", "Missing field `ttlSeconds`").
 */
const NAPI_TYPE_WORDING =
  /into rust type `|type from napi value$|^Value is not an instance of class `|^Expected a TypedArray value$|^expected an array$|^Failed to create reference from Buffer$|^Failed to get Buffer pointer and length$/

/** Whether `e` is napi's refusal of an argument's type, in napi's words. */
export function isNapiTypeError(e: unknown): e is Error & { code: string } {
  return e instanceof Error && NAPI_ARGUMENT_STATUSES.has((e as { code?: unknown }).code as string) && NAPI_TYPE_WORDING.test(e.message)
}

/** At most this many characters of an offending value go into a message (U5). */
const EXCERPT_CHARS = 100

/**
 * `s` for an error message: at most 100 characters, then an ellipsis and the full length; each
 * control or invisible character `printable`, as the native side's messages write them.
 */
export function excerpt(s: string): string {
  return s.length <= EXCERPT_CHARS ? printable(s) : `${printable(s.slice(0, EXCERPT_CHARS))}… (${s.length} characters)`
}

/** Control and invisible (default-ignorable) characters: a terminal acts on the first, hides the second. */
const UNPRINTABLE = /[\p{Cc}\p{Default_Ignorable_Code_Point}]/gu

/**
 * `text` with each control or invisible character written as an escape (`\u{1b}`), the way the
 * native side writes them (kavach-text `excerpt`): text from a caller or a file cannot erase a
 * line, move the cursor or hide a character of a message or a report.
 */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, (c) => `\\u{${c.codePointAt(0)!.toString(16)}}`)
}

/** A value's kind for an error message; never the content of an object. */
export function kindOf(v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'array'
  return typeof v
}

/**
 * What a hook threw (or rejected with), as text for a warning: its message, or the value itself.
 * Never throws: a null-prototype object or a `message` getter that throws has no text, and a
 * warning about a failed hook must not fail too.
 */
export function thrownText(e: unknown): string {
  try {
    return e instanceof Error ? String(e.message) : String(e)
  } catch {
    return `a thrown ${kindOf(e)} that cannot be read as text`
  }
}

/**
 * Every napi entry point is `#[napi(catch_unwind)]`: a Rust panic becomes a JS error with napi's
 * status `GenericFailure` (no entry point of ours returns that status), mapped to `INTERNAL`.
 */
const PANIC_STATUS = 'GenericFailure'

/** Every stable code the SDK can throw. */
export function errorCodes(): string[] {
  return [...byCode.keys()]
}

/** The subclass registered for `code`, if any. */
export function errorClassFor(code: string): KavachErrorClass | undefined {
  return byCode.get(code)
}

/**
 * Turns an error thrown by the native addon into the typed subclass for its code, keeping the
 * original as `cause`. Anything that is not a coded native error is returned unchanged.
 */
export function toKavachError(err: unknown, entryPoint?: string): unknown {
  if (err instanceof KavachError || !(err instanceof Error)) return err
  const code = (err as Error & { code?: unknown }).code
  if (typeof code !== 'string') return err
  if (code === PANIC_STATUS) {
    const where = entryPoint ?? 'a native entry point'
    return new InternalError(`${where}: internal error in the native addon (a caught panic): ${err.message}`, { cause: err })
  }
  if (isNapiTypeError(err)) {
    // napi's wording quotes the whole value: cut, and not kept as the cause. Entry points with
    // known arguments name the wrong one instead (src/native-errors.ts).
    return new InvalidArgumentError(`${entryPoint ?? 'a native entry point'}: an argument has the wrong type (${excerpt(err.message)})`)
  }
  const cls = byCode.get(code) ?? (NAPI_ARGUMENT_STATUSES.has(code) ? InvalidArgumentError : undefined)
  if (cls === undefined) return err
  return new cls(err.message, { cause: err })
}

/** Runs `fn`, rethrowing native errors as typed `KavachError`s (`entryPoint` names a panic's). */
export function native<T>(fn: () => T, entryPoint?: string): T {
  try {
    return fn()
  } catch (e) {
    throw toKavachError(e, entryPoint)
  }
}

/** Awaits `promise`, rethrowing native errors as typed `KavachError`s. */
export async function nativeAsync<T>(promise: () => Promise<T>, entryPoint?: string): Promise<T> {
  try {
    return await promise()
  } catch (e) {
    throw toKavachError(e, entryPoint)
  }
}

/** The gate refused the action. Message: `[CODE] evaluator: reason`. */
export class Refused extends Error {
  readonly code: string
  readonly evaluator: string
  readonly reason: string
  readonly verdict: Verdict | undefined
  constructor(code: string, evaluator: string, reason: string, verdict?: Verdict) {
    super(`[${code}] ${evaluator}: ${reason}`)
    this.name = 'Refused'
    this.code = code
    this.evaluator = evaluator
    this.reason = reason
    this.verdict = verdict
  }
}

/** The gate revoked the session (or principal/role). Message: `session invalidated by evaluator: reason`. */
export class Invalidated extends Error {
  readonly code = 'SESSION_INVALID'
  readonly evaluator: string
  readonly reason: string
  readonly scope: ScopeView | undefined
  readonly verdict: Verdict | undefined
  constructor(evaluator: string, reason: string, scope?: ScopeView, verdict?: Verdict) {
    super(`session invalidated by ${evaluator}: ${reason}`)
    this.name = 'Invalidated'
    this.evaluator = evaluator
    this.reason = reason
    this.scope = scope
    this.verdict = verdict
  }
}

/** The earlier Node SDK's names for the same classes. */
export const KavachRefused = Refused
export type KavachRefused = Refused
export const KavachInvalidated = Invalidated
export type KavachInvalidated = Invalidated

/** Throws `Refused` / `Invalidated` unless the verdict is a Permit. */
export function throwUnlessPermit(v: Verdict): void {
  if (v.isPermit) return
  if (v.isInvalidate) {
    throw new Invalidated(v.evaluator ?? 'gate', v.reason ?? 'session invalidated', v.scope, v)
  }
  throw new Refused(v.code ?? 'NO_POLICY_MATCH', v.evaluator ?? 'gate', v.reason ?? 'refused', v)
}
