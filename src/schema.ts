// The policy language and the gate options as zod schemas, for editors, JSON Schema and
// pre-flight checks in other tools (`import { PolicySetSchema } from 'kavach-sdk/schema'`).
// Nothing in the gate uses this module: the native loader is the authority on what a policy
// means, and gate options are checked by src/options.ts (names, JS types) and the native side
// (values). Kept out of the main entry so that `require('kavach-sdk')` does not load zod.

import { z } from 'zod'

const finite = z.number().refine(Number.isFinite, 'must be a finite number')
const nonNegInt = z.number().int('must be an integer').nonnegative('must be >= 0')
const positiveInt = z.number().int('must be an integer').positive('must be >= 1')
const nonEmpty = z.string().min(1, 'must be a non-empty string')
/** Native class instances are checked natively (napi type tags); here only "is an object". */
const instance = (what: string) =>
  z.custom<object>((v) => typeof v === 'object' && v !== null, `must be a ${what} instance`)

/** `{ name, field, maxValue }` or the Python SDK's `[name, field, max]` tuple. */
export const InvariantSchema = z.union([
  z.strictObject({ name: nonEmpty, field: nonEmpty, maxValue: finite }),
  z.tuple([nonEmpty, nonEmpty, finite]),
])

export const GateOptionsSchema = z.strictObject({
  invariants: z.array(InvariantSchema).optional(),
  observeOnly: z.boolean().optional(),
  maxSessionActions: nonNegInt.optional(),
  enableDrift: z.boolean().optional(),
  geoDriftMaxKm: finite.nonnegative('must be >= 0').optional(),
  tokenSigner: instance('PqTokenSigner').optional(),
  permitTtlSeconds: positiveInt.optional(),
  rateStore: instance('RedisRateLimitStore').optional(),
  sessionStore: instance('RedisSessionStore').optional(),
  broadcaster: instance('InMemoryInvalidationBroadcaster or RedisInvalidationBroadcaster').optional(),
  audit: instance('SignedAuditChain').optional(),
  invalidationTtlSeconds: positiveInt.optional(),
  /** Testing only: inject time. */
  testClock: z
    .strictObject({ nowMs: z.number().int().optional(), offsetMs: z.number().int().optional() })
    .optional(),
})

// --- the policy language as a schema (documentation, editor support, pre-flight checks) ---

const duration = z.string().regex(/^[1-9][0-9]*[smhd]$/, "a duration like '30s', '15m', '24h' or '7d'")
const pattern = nonEmpty

export const ConditionSchema = z.union([
  z.strictObject({ identity_kind: z.enum(['user', 'agent', 'service', 'scheduler', 'external']) }),
  z.strictObject({ identity_role: nonEmpty }),
  z.strictObject({ identity_id: nonEmpty }),
  z.strictObject({ action: pattern }),
  z.strictObject({ resource: pattern }),
  z.strictObject({ param_max: z.strictObject({ field: nonEmpty, max: finite }) }),
  z.strictObject({ param_min: z.strictObject({ field: nonEmpty, min: finite }) }),
  z.strictObject({ param_in: z.strictObject({ field: nonEmpty, values: z.array(z.string()).min(1) }) }),
  z.strictObject({ rate_limit: z.strictObject({ max: z.number().int().min(1).max(1_000_000), window: duration }) }),
  z.strictObject({ session_age_max: duration }),
  z.strictObject({ time_window: z.string().regex(/^\d{2}:\d{2}-\d{2}:\d{2}( \S+)?$/, "'HH:MM-HH:MM' optionally followed by an IANA zone") }),
])

export const PolicySchema = z.strictObject({
  name: nonEmpty,
  effect: z.enum(['permit', 'refuse']),
  conditions: z.array(ConditionSchema),
  description: z.string().optional(),
  priority: z.number().int().optional(),
})

export const PolicySetSchema = z.union([
  z.strictObject({ policies: z.array(PolicySchema) }),
  z.strictObject({ policy: z.array(PolicySchema) }),
  z.strictObject({}),
])

export type Condition = z.infer<typeof ConditionSchema>
export type Policy = z.infer<typeof PolicySchema>
/** A policy set as a plain object: `{ policies: [...] }` (or the TOML-style alias `policy`). */
export type PolicySetInput = z.infer<typeof PolicySetSchema>

/** The policy language as JSON Schema (draft 2020-12), for editors and other tools. */
export function policyJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(PolicySetSchema) as Record<string, unknown>
}
