// kavach-sdk public entry: curated exports only, no logic of its own.
// Each section is owned by one capability; add exports inside your own section.

// --- foundation: gate, context, verdicts, guarded(), errors ---
export { Gate } from './src/gate.js'
export type { EvaluateInput } from './src/gate.js'
export { ActionContext, GeoLocation, PRINCIPAL_KINDS } from './src/context.js'
export type { ActionContextInput, DeviceInput, EvaluateOptions, GeoLocationInput, PrincipalKind } from './src/context.js'
export type { LiftScope, ObservedVerdict, PermitTokenView, ScopeView, Verdict } from './src/native.js'
export type { RefuseCode } from './src/verdict.js'
export {
  ConditionSchema,
  GateOptionsSchema,
  InvariantSchema,
  PolicySchema,
  PolicySetSchema,
  policyJsonSchema,
  validateGateOptions,
} from './src/options.js'
export type { Condition, GateOptions, Policy, PolicySetInput } from './src/options.js'
export { currentCaller, guard, guarded, runAs } from './src/guarded.js'
export type { Caller, Guarded, GuardOptions } from './src/guarded.js'
export {
  InternalError,
  InvalidArgumentError,
  InvalidKeyError,
  InvalidOptionsError,
  Invalidated,
  IoError,
  KavachError,
  KavachInvalidated,
  KavachRefused,
  KeyExpiredError,
  KeyNotFoundError,
  PolicyParseError,
  Refused,
  ReplayError,
  SignatureInvalidError,
  StoreUnavailableError,
  SyncNotSupportedError,
  errorClassFor,
  errorCodes,
  toKavachError,
} from './src/errors.js'
export type { KavachErrorClass } from './src/errors.js'

// --- drift & invalidation ---
export { InMemoryInvalidationBroadcaster, spawnInvalidationListener } from './src/invalidation.js'
export type {
  InvalidationBroadcaster,
  InvalidationListenerHandle,
  InvalidationScope,
  ScopeKind,
} from './src/invalidation.js'

// --- post-quantum identity: key pairs, token signer, directory ---
export { DirectoryTokenVerifier, KavachKeyPair, PqTokenSigner, PublicKeyBundle, PublicKeyDirectory } from './src/pq.js'
export type { PermitTokenInput, PublicKeyBundleRecord } from './src/pq.js'
export {
  AlgorithmMismatchError,
  FormatInvalidError,
  ManifestInvalidError,
  PassphraseInvalidError,
  RngFailedError,
  SigningFailedError,
} from './src/errors.js'

// --- audit chain & secure channel ---
export { AuditEntry, Checkpoint, SignedAuditChain } from './src/audit.js'
export type { AuditEntryOptions, AuditFileOptions, VerifyJsonlOptions } from './src/audit.js'
export { SecureChannel } from './src/channel.js'
export type { SecureChannelOptions } from './src/channel.js'
export { ChainClosedError, ChainInvalidError, ContextMismatchError, DecryptionFailedError } from './src/errors.js'

// --- redis stores ---
export { RedisInvalidationBroadcaster, RedisRateLimitStore, RedisSessionStore } from './src/redis.js'
export type { RedisBroadcasterOptions, RedisConnectOptions, RedisSessionStoreOptions } from './src/redis.js'

// --- integrations ---
