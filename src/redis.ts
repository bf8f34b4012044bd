// Redis stores: the native classes, with their async factories and async methods rethrowing
// native errors as typed `KavachError`s (`StoreUnavailableError`, `InvalidArgumentError`).
// Everything else (scripts, reconnection, pub/sub) lives in crates/kavach-redis.

import {
  RedisInvalidationBroadcaster as NativeRedisInvalidationBroadcaster,
  RedisRateLimitStore as NativeRedisRateLimitStore,
  RedisSessionStore as NativeRedisSessionStore,
} from '../binding.js'
import type {
  RedisBroadcasterOptions,
  RedisConnectOptions,
  RedisSessionStoreOptions,
} from '../binding.js'
import { nativeAsync } from './errors.js'
import { rebrand, wrapNativeMethods } from './native-errors.js'

/**
 * Sliding-window rate limits shared by every replica: one atomic Lua script per hit, on the
 * Redis server's clock. URL: `redis://host:port` or `redis+cluster://host:port,host:port`.
 */
export class RedisRateLimitStore extends NativeRedisRateLimitStore {
  /** Connects; rejects within `connectTimeoutMs` (default 5 s: `redis connect timed out after 5s`). */
  static override async connect(url: string, opts?: RedisConnectOptions | null): Promise<RedisRateLimitStore> {
    return rebrand(await nativeAsync(() => super.connect(url, opts)), RedisRateLimitStore)
  }
}

/** Session state shared by every replica (one Redis hash per session, atomic updates). */
export class RedisSessionStore extends NativeRedisSessionStore {
  static override async connect(url: string, opts: RedisSessionStoreOptions): Promise<RedisSessionStore> {
    return rebrand(await nativeAsync(() => super.connect(url, opts)), RedisSessionStore)
  }
}

/**
 * Invalidation broadcast over Redis pub/sub; every replica, this one included, hears every scope.
 * Each scope is also kept in a revocation log for `revocationTtlSeconds` (default 3600) and
 * replayed on every (re)subscribe, so a replica that was disconnected or started later hears it.
 */
export class RedisInvalidationBroadcaster extends NativeRedisInvalidationBroadcaster {
  /** Resolves once the subscription is live and the revocation log has been read. */
  static override async connect(url: string, opts?: RedisBroadcasterOptions | null): Promise<RedisInvalidationBroadcaster> {
    return rebrand(await nativeAsync(() => super.connect(url, opts)), RedisInvalidationBroadcaster)
  }
}

wrapNativeMethods(NativeRedisInvalidationBroadcaster, ['publish', 'forget'], 'async')
wrapNativeMethods(NativeRedisSessionStore, ['invalidate'], 'async')

export type { RedisBroadcasterOptions, RedisConnectOptions, RedisSessionStoreOptions }
