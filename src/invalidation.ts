// Drift & invalidation: thin wrappers over the native broadcaster and listener so misuse
// throws the typed `KavachError` subclasses. Delivery, fan-out and revocation live in Rust.

import {
  InMemoryInvalidationBroadcaster as NativeInMemoryInvalidationBroadcaster,
  spawnInvalidationListener as nativeSpawnInvalidationListener,
} from '../binding.js'
import type { InvalidationListenerHandle, InvalidationScope, RedisInvalidationBroadcaster } from '../binding.js'
import { native } from './errors.js'

/** The kinds of target an invalidation revokes. */
export type ScopeKind = InvalidationScope['targetKind']

/**
 * Delivers invalidation scopes to every gate and listener subscribed in this process.
 * Late subscribers miss earlier messages.
 */
export class InMemoryInvalidationBroadcaster extends NativeInMemoryInvalidationBroadcaster {
  /**
   * Revoke `targetId` on every subscribed gate and tell every listener. An unknown
   * `targetKind` throws `InvalidArgumentError`.
   */
  override publish(targetKind: ScopeKind, targetId: string, reason: string, evaluator = 'manual'): void {
    native(() => super.publish(targetKind, targetId, reason, evaluator))
  }
}

/** A broadcaster a listener (or a gate) can subscribe to. */
export type InvalidationBroadcaster = NativeInMemoryInvalidationBroadcaster | RedisInvalidationBroadcaster

/**
 * Calls `callback` on the event loop for every scope the broadcaster carries from now on.
 * A callback that throws (or rejects) is reported on stderr and the listener keeps going.
 * While active, the listener keeps the process alive (it waits for messages, like a socket);
 * `handle.abort()` stops it (idempotent) and lets the process exit.
 */
export function spawnInvalidationListener(
  broadcaster: InvalidationBroadcaster,
  callback: (scope: InvalidationScope) => unknown,
): InvalidationListenerHandle {
  return native(() => nativeSpawnInvalidationListener(broadcaster, callback))
}

export type { InvalidationListenerHandle, InvalidationScope }
