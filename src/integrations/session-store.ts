// Session revocations for the integrations: the store interface the earlier SDK's middleware
// took, its in-process implementation, and the adapter that lets a `RedisSessionStore` serve
// as one (so replicas share revocations).

import type { EvaluateOptions } from '../context.js'
import { InvalidOptionsError } from '../errors.js'
import { Gate } from '../gate.js'
import { RedisSessionStore } from '../redis.js'

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
 * What the integrations call: the store's answer for the session of this call. The context is
 * passed so the Redis adapter can read the session exactly as the gate would.
 */
export interface RevocationReader {
  isInvalidated(sessionId: string, ctx: EvaluateOptions): boolean | Promise<boolean>
  invalidate(sessionId: string, reason: string): void | Promise<void>
}

/**
 * A `RedisSessionStore` has no read of its own; its revocation flag is read the way the gate
 * reads it: a policy-free gate on the same store loads the session (the load a gate sharing the
 * store does first) and answers `SESSION_INVALID` for a revoked one. The probe carries the
 * call's own context, so a session it sees first is seeded with the same start and origin as
 * the real evaluation would seed. A store outage rejects, and the caller refuses.
 */
class RedisRevocations implements RevocationReader {
  readonly #store: RedisSessionStore
  readonly #probe: Gate

  constructor(store: RedisSessionStore) {
    this.#store = store
    this.#probe = Gate.fromObject({ policies: [] }, { sessionStore: store, enableDrift: false })
  }

  async isInvalidated(sessionId: string, ctx: EvaluateOptions): Promise<boolean> {
    const v = await this.#probe.evaluateAsync({ ...ctx, sessionId, actionName: 'kavach.session_probe', params: undefined })
    if (v.code === 'STORE_UNAVAILABLE') throw new Error(v.reason ?? 'session store unavailable')
    // Anything else (no policy matched, an invalid context) is for the real evaluation to judge.
    return v.code === 'SESSION_INVALID'
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
