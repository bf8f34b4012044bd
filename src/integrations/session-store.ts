// Session revocations for the integrations: the store interface the earlier SDK's middleware
// took, its in-process implementation, and the adapter that lets a `RedisSessionStore` serve
// as one (so replicas share revocations).

import { InvalidOptionsError } from '../errors.js'
import { Gate } from '../gate.js'
import { RedisSessionStore } from '../redis.js'
import type { RefuseCode } from '../verdict.js'

/** Where an integration records and looks up revoked sessions. */
export interface SessionStore {
  isInvalidated(sessionId: string): boolean | Promise<boolean>
  invalidate(sessionId: string, reason?: string): void | Promise<void>
}

/** Revoked sessions in this process (lost on restart; use a `RedisSessionStore` across replicas). */
export class InMemorySessionStore implements SessionStore {
  readonly #revoked = new Map<string, string>()

  isInvalidated(sessionId: string): boolean {
    return this.#revoked.has(sessionId)
  }

  /** The first reason is kept. */
  invalidate(sessionId: string, reason = 'invalidated'): void {
    if (!this.#revoked.has(sessionId)) this.#revoked.set(sessionId, reason)
  }

  /** How many sessions are revoked. */
  get size(): number {
    return this.#revoked.size
  }
}

/**
 * What the integrations call: `true` for a revoked session, `false` for one read and not
 * revoked. Anything else rejects, and the caller refuses the call; a `RevocationReadError`
 * carries the refuse code to answer with.
 */
export interface RevocationReader {
  isInvalidated(sessionId: string): boolean | Promise<boolean>
  invalidate(sessionId: string, reason: string): void | Promise<void>
}

/** The revocation of a session could not be read cleanly: refuse with `code`. */
export class RevocationReadError extends Error {
  override readonly name = 'RevocationReadError'
  constructor(
    readonly code: RefuseCode,
    message: string,
  ) {
    super(message)
  }
}

/** The principal and action of the probe: fixed, so no caller-supplied field can change its answer. */
const PROBE_NAME = 'kavach.session_probe'

/**
 * A `RedisSessionStore` has no read of its own; its revocation flag is read the way the gate
 * reads it, by a policy-free gate on the same store. The probe is an `explainAsync`: it reads
 * the session hash without creating, seeding or refreshing it, so the real evaluation that
 * follows seeds a new session from the caller's own context as it would without the probe.
 * Its context carries only the session id; every other field is fixed, so nothing the caller
 * sends (a start far in the future, say) can turn the read into another answer.
 *
 * Only one answer means "not revoked": the session step ran (the store was read and holds no
 * revocation) and the empty policy set then refused by default. A revoked session is
 * `SESSION_INVALID`; a store outage and any other answer reject, and the caller refuses.
 */
class RedisRevocations implements RevocationReader {
  readonly #store: RedisSessionStore
  readonly #probe: Gate

  constructor(store: RedisSessionStore) {
    this.#store = store
    this.#probe = Gate.fromObject({ policies: [] }, { sessionStore: store, enableDrift: false })
  }

  async isInvalidated(sessionId: string): Promise<boolean> {
    const { verdict: v, steps } = await this.#probe.explainAsync({
      principalId: PROBE_NAME,
      principalKind: 'service',
      actionName: PROBE_NAME,
      sessionId,
    })
    if (v.code === 'SESSION_INVALID') return true
    const read = steps.some((s) => s.evaluator === 'session' && s.subject === sessionId && !s.decisive)
    if (read && v.code === 'NO_POLICY_MATCH' && v.evaluator === 'policy') return false
    // A session id the gate cannot take is the caller's error; any other answer means the
    // store's state was not read.
    const code: RefuseCode = v.code === 'INVALID_CONTEXT' ? 'INVALID_CONTEXT' : 'STORE_UNAVAILABLE'
    throw new RevocationReadError(code, `the revocation of session '${sessionId}' could not be read: ${v.code ?? v.kind}: ${v.reason ?? ''}`)
  }

  invalidate(sessionId: string, reason: string): Promise<void> {
    return this.#store.invalidate(sessionId, reason)
  }
}

/** Wraps a user's store so the integrations call one shape; a store of the wrong shape throws. */
export function revocationReader(option: string, store: SessionStore | RedisSessionStore): RevocationReader {
  if (store instanceof RedisSessionStore) return new RedisRevocations(store)
  const s = store as Partial<SessionStore> | null
  if (typeof s !== 'object' || s === null || typeof s.isInvalidated !== 'function' || typeof s.invalidate !== 'function') {
    throw new InvalidOptionsError(`option '${option}' must have isInvalidated(id) and invalidate(id) methods, or be a RedisSessionStore`)
  }
  const user = store as SessionStore
  return {
    isInvalidated: (sessionId) => user.isInvalidated(sessionId),
    invalidate: (sessionId, reason) => user.invalidate(sessionId, reason),
  }
}
