// Redis stores: the native classes, with their async factories and async methods rethrowing
// native errors as typed `KavachError`s (`StoreUnavailableError`, `InvalidArgumentError`).
// Everything else (scripts, reconnection, pub/sub) lives in crates/kavach-redis; value ranges
// are checked natively (crates/kavach-node/src/redis_stores.rs).

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
import { noPublicConstructor } from './arguments.js'
import { InvalidArgumentError } from './errors.js'
import { nativeCallAsync, rebrand, wrapNativeMethods } from './native-errors.js'
import { type FieldChecks, boolean, checkedArgument, checkedOptions, number, string } from './options.js'

// Own properties only (src/options.ts): an inherited `prefix` would move every key.
const CONNECT_CHECKS: FieldChecks<RedisConnectOptions>['checks'] = {
  prefix: string,
  cluster: boolean,
  connectTimeoutMs: number,
  commandTimeoutMs: number,
}
const connectOptions = <T>(what: string, checks: FieldChecks<T>['checks'], required?: FieldChecks<T>['required']): FieldChecks<T> => ({
  what,
  noun: 'option',
  error: InvalidArgumentError,
  checks,
  required,
})
const RATE_OPTIONS = connectOptions<RedisConnectOptions>('RedisRateLimitStore.connect options', CONNECT_CHECKS)
const SESSION_OPTIONS = connectOptions<RedisSessionStoreOptions>('RedisSessionStore.connect options', { ...CONNECT_CHECKS, ttlSeconds: number }, { ttlSeconds: true })
const BROADCASTER_OPTIONS = connectOptions<RedisBroadcasterOptions>('RedisInvalidationBroadcaster.connect options', {
  ...CONNECT_CHECKS,
  channel: string,
  revocationTtlSeconds: number,
})

/**
 * Sliding-window rate limits shared by every replica: one atomic Lua script per hit, on the
 * Redis server's clock. URL: `redis://host:port` or `redis+cluster://host:port,host:port`.
 */
export class RedisRateLimitStore extends NativeRedisRateLimitStore {
  /** Instances come from the static factories only (`new` throws, naming them). */
  private constructor() {
    noPublicConstructor('RedisRateLimitStore', 'RedisRateLimitStore.connect')
    super()
  }

  /** Connects; rejects within `connectTimeoutMs` (default 5 s: `redis connect timed out after 5s`). */
  static override async connect(url: string, opts?: RedisConnectOptions | null): Promise<RedisRateLimitStore> {
    const connect = (): Promise<NativeRedisRateLimitStore> => super.connect(url, checkedOptions(RATE_OPTIONS, opts))
    return rebrand(await nativeCallAsync('RedisRateLimitStore.connect', [url], connect, ['url']), RedisRateLimitStore)
  }
}

/** Session state shared by every replica (one Redis hash per session, atomic updates). */
export class RedisSessionStore extends NativeRedisSessionStore {
  /** Instances come from the static factories only (`new` throws, naming them). */
  private constructor() {
    noPublicConstructor('RedisSessionStore', 'RedisSessionStore.connect')
    super()
  }

  /** `opts.ttlSeconds` is required. */
  static override async connect(url: string, opts: RedisSessionStoreOptions): Promise<RedisSessionStore> {
    const connect = (): Promise<NativeRedisSessionStore> => super.connect(url, checkedArgument(SESSION_OPTIONS, opts))
    return rebrand(await nativeCallAsync('RedisSessionStore.connect', [url, opts], connect, ['url', 'options { ttlSeconds, ... }']), RedisSessionStore)
  }
}

/**
 * Invalidation broadcast over Redis pub/sub; every replica, this one included, hears every scope.
 * Each scope is also kept in a revocation log for `revocationTtlSeconds` (default 3600) and
 * replayed on every (re)subscribe, so a replica that was disconnected or started later hears it.
 */
export class RedisInvalidationBroadcaster extends NativeRedisInvalidationBroadcaster {
  /** Instances come from the static factories only (`new` throws, naming them). */
  private constructor() {
    noPublicConstructor('RedisInvalidationBroadcaster', 'RedisInvalidationBroadcaster.connect')
    super()
  }

  /** Resolves once the subscription is live and the revocation log has been read. */
  static override async connect(url: string, opts?: RedisBroadcasterOptions | null): Promise<RedisInvalidationBroadcaster> {
    const connect = (): Promise<NativeRedisInvalidationBroadcaster> => super.connect(url, checkedOptions(BROADCASTER_OPTIONS, opts))
    return rebrand(await nativeCallAsync('RedisInvalidationBroadcaster.connect', [url], connect, ['url']), RedisInvalidationBroadcaster)
  }
}

wrapNativeMethods(NativeRedisInvalidationBroadcaster, ['publish', 'forget'], 'async')
wrapNativeMethods(NativeRedisInvalidationBroadcaster, ['attachSessionStore', 'close'], 'sync', { attachSessionStore: ['store'] })
wrapNativeMethods(NativeRedisSessionStore, ['invalidate'], 'async')
wrapNativeMethods(NativeRedisSessionStore, ['keyFor', 'close'], 'sync', { keyFor: ['sessionId'] })
wrapNativeMethods(NativeRedisRateLimitStore, ['keyFor', 'close'], 'sync', { keyFor: ['key'] })

export type { RedisBroadcasterOptions, RedisConnectOptions, RedisSessionStoreOptions }
