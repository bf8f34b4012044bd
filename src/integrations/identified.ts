// The one check of what an `identify` hook returned, for the HTTP middleware (a principal) and
// gateMcpServer (a caller): the two shapes differ only in their field names.

import { PRINCIPAL_KINDS, type PrincipalKind } from '../context.js'
import { kindOf } from '../errors.js'
import { inheritedFields } from '../options.js'

/** The field names and wording of one identity shape. */
export interface IdentityShape {
  /** `principal` or `caller`, as the messages name it. */
  noun: string
  idField: string
  kindField: string
  /** What `identify` should return instead, e.g. `a principal object, or undefined for anonymous`. */
  expected: string
}

/**
 * Why `who` (what `identify` returned, not undefined) is not an identity of `shape`, or
 * undefined when it is one. Its fields are read as the integrations read them: through its
 * prototypes, never from `Object.prototype` (`inheritedFields`), so a polluted
 * `Object.prototype.principalId` names no one.
 */
export function identityProblem(who: unknown, shape: IdentityShape): string | undefined {
  const { noun, idField, kindField } = shape
  if (typeof who !== 'object' || who === null || Array.isArray(who)) return `identify() returned ${kindOf(who)}; expected ${shape.expected}`
  const o = inheritedFields(who, [idField, kindField, 'roles', 'sessionId'])
  const id = o[idField]
  if (typeof id !== 'string' || id.trim() === '') return `identify() returned a ${noun} whose ${idField} is not a non-empty string`
  if (o[kindField] !== undefined && !PRINCIPAL_KINDS.includes(o[kindField] as PrincipalKind)) {
    return `identify() returned a ${noun} whose ${kindField} is not one of ${PRINCIPAL_KINDS.join(', ')}`
  }
  if (o.roles !== undefined && (!Array.isArray(o.roles) || !o.roles.every((r) => typeof r === 'string'))) {
    return `identify() returned a ${noun} whose roles is not an array of strings`
  }
  if (o.sessionId !== undefined && typeof o.sessionId !== 'string') return `identify() returned a ${noun} whose sessionId is not a string`
  return undefined
}
