// The policy language and the gate options as zod schemas, for editors, JSON Schema and
// pre-flight checks in other tools (`import { PolicySetSchema } from 'kavach-sdk/schema'`).
// Nothing in the gate uses this module: the native loader is the authority on what a policy
// means (its zone names are rendered into src/generated/time-zones.ts), and gate options are
// checked by src/options.ts (names, JS types) and the native side (values). Kept out of the
// main entry so that `require('kavach-sdk')` does not load zod.

import { z } from 'zod'
import { PRINCIPAL_KINDS } from './generated/layout.js'
import { TIME_ZONES } from './generated/time-zones.js'
import { NAME_RULES, isValidName } from './names.js'

export { definePolicies, type PolicySetDefinition } from './define-policies.js'

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
  permitTtlSeconds: positiveInt.max(86_400).optional(),
  rateStore: instance('RedisRateLimitStore').optional(),
  sessionStore: instance('RedisSessionStore').optional(),
  broadcaster: instance('InMemoryInvalidationBroadcaster or RedisInvalidationBroadcaster').optional(),
  audit: instance('SignedAuditChain').optional(),
  invalidationTtlSeconds: positiveInt.optional(),
  maxClockSkewSeconds: nonNegInt.max(86_400).optional(),
  maxPendingEvaluations: positiveInt.max(1_000_000).optional(),
  sessionIdleSeconds: positiveInt.max(31_536_000).optional(),
  /** OpenTelemetry instruments (src/telemetry.ts); handled in JavaScript, not natively. */
  telemetry: z
    .union([z.boolean(), z.strictObject({ meterProvider: instance('MeterProvider').optional(), tracerProvider: instance('TracerProvider').optional() })])
    .optional(),
  onVerdict: z.custom<(...args: unknown[]) => void>((v) => typeof v === 'function', 'must be a function').optional(),
  /** Testing only: inject time. */
  testClock: z
    .strictObject({ nowMs: z.number().int().optional(), offsetMs: z.number().int().optional() })
    .optional(),
})

// --- the policy language as a schema (documentation, editor support, pre-flight checks) ---

// Mirrors the native loader (crates/kavach-core/src/policy/schema.rs), which is the reference:
// __test__/schema-corpus.test.ts loads a corpus through both and expects the same answers.
// Regexes reach the JSON Schema (editors); refinements are checked by zod only: the JSON
// Schema leaves to the loader what a pattern cannot say (see LOADER_ONLY).

/** The longest duration the loader accepts (10 years, policy/duration.rs). */
const MAX_DURATION_MS = 10 * 366 * 24 * 3600 * 1000
const UNIT_MS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }
const duration = z
  .string()
  .regex(/^0*[1-9][0-9]*[smhd]$/, "a duration like '30s', '15m', '24h' or '7d', greater than zero")
  .refine((t) => {
    const n = Number(t.slice(0, -1))
    return n > 0 && n * UNIT_MS[t.slice(-1)]! <= MAX_DURATION_MS
  }, 'a duration must be greater than zero and at most 10 years')
/**
 * The part of the name rules a JSON Schema pattern can carry (ECMAScript syntax, no
 * lookaround, so editors with other regex engines read it too): no control character
 * anywhere, no whitespace at either end.
 */
const NAME_PATTERN = /^[^\s\u0000-\u001f\u007f-\u009f](?:[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f])?$/
/** A name a policy matches on or is called by, or a param field (policy/identifier.rs, src/names.ts). */
const name = nonEmpty.regex(NAME_PATTERN, NAME_RULES).refine(isValidName, NAME_RULES)

/** An exact name, a prefix ending in `*` or `.*`, or `*` alone (policy/pattern.rs). */
const pattern = name.regex(/^[^*]*\*?$/, "'*' is only allowed at the end ('name*' or 'name.*') or alone")

/**
 * Whether the policy loader knows `zone`: its own list (chrono-tz, case-exact, links
 * included), rendered into src/generated/time-zones.ts. ICU's answer would not do: it takes
 * other spellings (`asia/kolkata`) and names the loader's release lacks (`US/Pacific-New`).
 */
function loaderKnowsZone(zone: string): boolean {
  return TIME_ZONES.has(zone)
}

function timeWindow(text: string): boolean {
  const [range = '', zone, extra] = text.split(' ').filter((p) => p !== '')
  const m = /^(\d\d):(\d\d)-(\d\d):(\d\d)$/.exec(range)
  if (m === null || extra !== undefined) return false
  const [h1, m1, h2, m2] = m.slice(1).map(Number) as [number, number, number, number]
  if (h1 > 23 || h2 > 23 || m1 > 59 || m2 > 59 || h1 * 60 + m1 === h2 * 60 + m2) return false
  return zone === undefined || loaderKnowsZone(zone)
}

const RATE_LIMIT_MAX = 1_000_000

/**
 * A priority is a 64-bit signed integer, read exactly from JSON or TOML text. zod checks a
 * JavaScript value, as `Gate.fromObject` reads it: there a number past 2^53 is not exact, and
 * the loader refuses it, so zod allows safe integers (`.int()`). The JSON Schema checks text,
 * whose integers the loader reads exactly: it allows the 64-bit range. (A validator reads JSON
 * numbers as doubles, where 2^63 - 1 reads as 2^63: the bound is 2^63 so that no valid priority
 * is flagged; the loader refuses the few past 2^63 - 1.)
 */
const priority = z
  .number()
  .int('must be an integer (a safe one in a JavaScript value; JSON or TOML text may give any 64-bit integer)')
  .meta({ type: 'integer', minimum: -(2 ** 63), maximum: 2 ** 63 })

export const ConditionSchema = z.union([
  z.strictObject({ identity_kind: z.enum(PRINCIPAL_KINDS) }),
  z.strictObject({ identity_role: name }),
  z.strictObject({ identity_id: name }),
  z.strictObject({ action: pattern }),
  z.strictObject({ resource: pattern }),
  z.strictObject({ param_max: z.strictObject({ field: name, max: finite }) }),
  z.strictObject({ param_min: z.strictObject({ field: name, min: finite }) }),
  z.strictObject({ param_in: z.strictObject({ field: name, values: z.array(z.string()).min(1) }) }),
  // max 0 switches the action off (an exhausted limit from the first call on).
  z.strictObject({ rate_limit: z.strictObject({ max: z.number().int().min(0).max(RATE_LIMIT_MAX), window: duration }) }),
  z.strictObject({ session_age_max: duration }),
  z.strictObject({
    time_window: z
      .string()
      .regex(/^ *([01][0-9]|2[0-3]):[0-5][0-9]-([01][0-9]|2[0-3]):[0-5][0-9]( +[^ ]+)? *$/, "'HH:MM-HH:MM' (24-hour clock) optionally followed by an IANA zone")
      .refine(timeWindow, 'a 24-hour clock range with start != end, and a known IANA zone'),
  }),
])

export const PolicySchema = z
  .strictObject({
    name,
    effect: z.enum(['permit', 'refuse']),
    conditions: z.array(ConditionSchema),
    description: z.string().optional(),
    priority: priority.optional(),
  })
  .refine((p) => p.effect === 'permit' || !p.conditions.some((c) => 'rate_limit' in c), {
    message: "'rate_limit' is only allowed in permit policies",
    path: ['conditions'],
  })

/** Policy names are unique within a set, compared in NFC as the loader compares them. */
const policyList = z.array(PolicySchema).superRefine((list, ctx) => {
  const seen = new Set<string>()
  list.forEach((p, i) => {
    const key = p.name.normalize('NFC')
    if (seen.has(key)) ctx.addIssue({ code: 'custom', message: `duplicate policy name '${p.name}'`, path: [i, 'name'] })
    seen.add(key)
  })
})

export const PolicySetSchema = z.union([
  z.strictObject({ policies: policyList }),
  z.strictObject({ policy: policyList }),
  z.strictObject({}),
])

export type Condition = z.infer<typeof ConditionSchema>
export type Policy = z.infer<typeof PolicySchema>
/** A policy set as a plain object: `{ policies: [...] }` (or the TOML-style alias `policy`). */
export type PolicySetInput = z.infer<typeof PolicySetSchema>

/**
 * What the JSON Schema leaves to the loader (and the zod schema): no JSON Schema keyword says
 * it. Shown in the JSON Schema's description and docs/CLI.md.
 */
const LOADER_ONLY =
  'Checked by the loader (and the zod schema), not by this JSON Schema: a name\'s length in UTF-8 bytes, invisible characters and mixed Latin/Greek/Cyrillic ' +
  'letters in it; a time window whose start equals its end, and its IANA zone; a duration over 10 years; duplicate policy names; rate_limit only in permit policies; ' +
  'a priority past 2^63 - 1 by less than 1024 (JSON numbers are read as doubles here; the loader reads them exactly).'

/** The policy language as JSON Schema (draft 2020-12), for editors and other tools. */
export function policyJsonSchema(): Record<string, unknown> {
  return { ...(z.toJSONSchema(PolicySetSchema) as Record<string, unknown>), description: LOADER_ONLY }
}
