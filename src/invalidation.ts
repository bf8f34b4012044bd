// Drift & invalidation: thin wrappers over the native broadcaster and listener so misuse
// throws the typed `KavachError` subclasses. Delivery, fan-out and revocation live in Rust.

import {
  InMemoryInvalidationBroadcaster as NativeInMemoryInvalidationBroadcaster,
  InvalidationListenerHandle,
  spawnInvalidationListener as nativeSpawnInvalidationListener,
} from '../binding.js'
import type { InvalidationScope, RedisInvalidationBroadcaster } from '../binding.js'
import { functionArgument, objectArgument } from './arguments.js'
import { native } from './errors.js'
import { nativeCall } from './native-errors.js'

/**
 * Listeners not yet aborted. Held here so that a handle the caller drops is never collected
 * (collecting it would release the listener, and with it the process, at some later GC):
 * a listener keeps delivering, and keeps the process alive, until `abort()`.
 */
const active = new Set<InvalidationListenerHandle>()

const abortDescriptor = Object.getOwnPropertyDescriptor(InvalidationListenerHandle.prototype, 'abort')!
const nativeAbort = abortDescriptor.value as (this: InvalidationListenerHandle) => void
Object.defineProperty(InvalidationListenerHandle.prototype, 'abort', {
  ...abortDescriptor,
  value: function abort(this: InvalidationListenerHandle): void {
    nativeAbort.call(this)
    active.delete(this)
  },
})

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
    const args = [targetKind, targetId, reason, evaluator]
    nativeCall('InMemoryInvalidationBroadcaster.publish', args, () => super.publish(targetKind, targetId, reason, evaluator), ['targetKind', 'targetId', 'reason', 'evaluator'])
  }
}

/** A broadcaster a listener (or a gate) can subscribe to. */
export type InvalidationBroadcaster = NativeInMemoryInvalidationBroadcaster | RedisInvalidationBroadcaster

/**
 * Calls `callback` on the event loop for every scope the broadcaster carries from now on.
 * A callback that throws (or rejects) is reported on stderr and the listener keeps going.
 * Until `handle.abort()` (idempotent) the listener keeps the process alive (it waits for
 * messages, like a socket), even when the caller drops the handle; abort() lets it exit.
 */
export function spawnInvalidationListener(
  broadcaster: InvalidationBroadcaster,
  callback: (scope: InvalidationScope) => unknown,
): InvalidationListenerHandle {
  // Checked here: napi's refusal of a non-function callback is a failed thread-safe function
  // (an INTERNAL error) that names neither the call nor the argument. Which broadcaster class
  // an object is, is checked natively (napi type tags).
  objectArgument('spawnInvalidationListener', 'broadcaster', broadcaster, 'an InMemoryInvalidationBroadcaster or RedisInvalidationBroadcaster')
  functionArgument('spawnInvalidationListener', 'callback', callback)
  const handle = native(() => nativeSpawnInvalidationListener(broadcaster, callback))
  active.add(handle)
  return handle
}

export type { InvalidationListenerHandle, InvalidationScope }
