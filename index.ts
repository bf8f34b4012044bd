// kavach-sdk public entry: curated exports only, no logic of its own.
// Each section is owned by one capability; add exports inside your own section.

// --- foundation: gate, context, verdicts, guarded(), errors ---
export { Gate } from './src/gate.js'
export type { EvaluateInput } from './src/gate.js'
export { ActionContext, GeoLocation, PRINCIPAL_KINDS } from './src/context.js'
export type { ActionContextInput, DeviceInput, EvaluateOptions, GeoLocationInput, PrincipalKind } from './src/context.js'
export type { AnalyzeOptions, ExplainCheck, ExplainStep, Explanation, LiftScope, ObservedVerdict, PermitTokenView, PolicyFinding, RevokeScope, ScopeView, Verdict } from './src/native.js'
export type { RefuseCode } from './src/verdict.js'
// The zod schemas (`PolicySetSchema`, `PolicySchema`, `ConditionSchema`, `InvariantSchema`,
// `GateOptionsSchema`) live in `kavach-sdk/schema` (src/schema.ts), so this entry does not load zod.
export { policyJsonSchema, validateGateOptions } from './src/options.js'
export { definePolicies } from './src/define-policies.js'
export type { PolicySetDefinition } from './src/define-policies.js'
export type { OnVerdict, TelemetryOptions } from './src/telemetry.js'
export type { Condition, GateOptions, Policy, PolicySetInput } from './src/options.js'
export { PolicyWatcher } from './src/watch.js'
export type { PolicyWatcherEvents, WatchOptions } from './src/watch.js'
export { currentCaller, guard, guarded, runAs } from './src/guarded.js'
export type { Caller, Guarded, GuardOptions } from './src/guarded.js'
export {
  InternalError,
  InvalidArgumentError,
  InvalidContextError,
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
export type { ImportSecretOptions, PermitTokenInput, PublicKeyBundleRecord } from './src/pq.js'
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
export { InMemorySessionStore } from './src/integrations/session-store.js'
export type { SessionStore } from './src/integrations/session-store.js'
export { McpKavachMiddleware } from './src/integrations/mcp.js'
export type { McpCaller, McpMiddlewareOptions } from './src/integrations/mcp.js'
export { gateMcpServer } from './src/integrations/mcp-server.js'
export { MCP_REFUSED_ERROR_CODE, McpRefusalError } from './src/integrations/mcp-resources.js'
export type { GateableMcpServer, GateMcpServerOptions, McpRefusalResult, McpRequestExtra } from './src/integrations/mcp-server.js'
export { HttpKavachMiddleware, canonicalPath, deriveActionName, judgedAs } from './src/integrations/http.js'
export type { CanonicalPath, HttpHeaders, HttpMiddlewareOptions, HttpPrincipal, HttpRefusalEvent, HttpRequestInfo } from './src/integrations/http.js'
export { createExpressMiddleware } from './src/integrations/express.js'
export type { ExpressRequestLike, ExpressResponseLike } from './src/integrations/express.js'
export { createFastifyHook } from './src/integrations/fastify.js'
export type { FastifyReplyLike, FastifyRequestLike } from './src/integrations/fastify.js'
export { guardTools, isToolRefusal } from './src/integrations/ai-sdk.js'
export type { GuardToolsOptions } from './src/integrations/ai-sdk.js'
export type { ToolRefusal } from './src/integrations/refusal.js'
export { guardAgentTools } from './src/integrations/openai-agents.js'
export type { AgentRunContextLike, AgentToolLike, GuardAgentToolsOptions } from './src/integrations/openai-agents.js'
