// `definePolicies()`: a policy set written in TypeScript, type-checked at compile time against
// the types the zod schema infers (src/schema.ts). A type-only import: calling this loads no zod.
// The native loader still checks every value when the set is loaded (ranges, patterns, zones).

import type { Policy } from './schema.js'

/** A policy set as `Gate.fromObject` takes it: `{ policies: [...] }` or the TOML-style `policy`. */
export type PolicySetDefinition = { policies: Policy[] } | { policy: Policy[] }

/**
 * Returns `policies` unchanged; its only job is the compile-time check (a misspelt key, a
 * wrong effect or a condition value of the wrong type is a type error).
 */
export function definePolicies(policies: PolicySetDefinition): PolicySetDefinition {
  return policies
}
