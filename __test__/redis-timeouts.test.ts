// Redis integer options are checked, never wrapped: timeouts are whole milliseconds from 1 to
// 600,000, TTLs whole seconds from 1 to 4294967295 (a u32 conversion would turn a TTL of -1
// into 136 years, 2^32 + 5 into 5 and 1.5 into 1). Each bad value is an INVALID_ARGUMENT
// naming the option, its range and the value, before any connection is made, and from the
// native side, so the binding called directly refuses it too. A connect timeout is reported
// with its milliseconds.

import { createServer, type Server, type Socket } from 'node:net'

import { afterAll, beforeAll, describe, expect, test } from 'vitest'

import {
  RedisInvalidationBroadcaster as BindingBroadcaster,
  RedisSessionStore as BindingSessionStore,
} from '../binding.js'
import { RedisInvalidationBroadcaster, RedisRateLimitStore, RedisSessionStore, StoreUnavailableError } from '../index'
import { REDIS_URL, uniquePrefix } from './fixtures/redis-helpers'

const BAD = [-1, 0, 0.5, 1e20, 2 ** 32 + 1000, 600_001, Number.NaN, Number.POSITIVE_INFINITY]

describe('Redis timeouts', () => {
  for (const option of ['connectTimeoutMs', 'commandTimeoutMs'] as const) {
    test.each(BAD)(`${option}: %s is rejected naming the option`, async (bad) => {
      const connects: Array<() => Promise<unknown>> = [
        () => RedisRateLimitStore.connect(REDIS_URL, { [option]: bad }),
        () => RedisSessionStore.connect(REDIS_URL, { ttlSeconds: 60, [option]: bad }),
        () => RedisInvalidationBroadcaster.connect(REDIS_URL, { [option]: bad }),
      ]
      for (const connect of connects) {
        await expect(Promise.resolve().then(connect)).rejects.toMatchObject({
          code: 'INVALID_ARGUMENT',
          message: expect.stringContaining(`${option} must be an integer from 1 to 600000`),
        })
      }
    })
  }

  test('whole milliseconds up to 600000 are accepted', async () => {
    const store = await RedisRateLimitStore.connect(REDIS_URL, { connectTimeoutMs: 600_000, commandTimeoutMs: 600_000 })
    store.close()
    const session = await RedisSessionStore.connect(REDIS_URL, { ttlSeconds: 60, connectTimeoutMs: 1_000, commandTimeoutMs: 1_000 })
    session.close()
  })
})

/** Each rejected TTL and how the message prints it. */
const BAD_TTLS: Array<[number, string]> = [
  [-1, '-1'],
  [0, '0'],
  [1.5, '1.5'],
  [2 ** 32, '4294967296'],
  [2 ** 32 + 5, '4294967301'],
  [-4294967295, '-4294967295'],
  [1e20, '100000000000000000000'],
  [Number.NaN, 'NaN'],
  [Number.POSITIVE_INFINITY, 'inf'],
]

describe('Redis TTLs', () => {
  const prefix = uniquePrefix('ttl')
  const channel = `${prefix}-channel`
  const connects: Record<string, Array<(v: number) => Promise<{ close(): void }>>> = {
    ttlSeconds: [
      (v: number) => RedisSessionStore.connect(REDIS_URL, { ttlSeconds: v, prefix }),
      (v: number) => BindingSessionStore.connect(REDIS_URL, { ttlSeconds: v, prefix }),
    ],
    revocationTtlSeconds: [
      (v: number) => RedisInvalidationBroadcaster.connect(REDIS_URL, { revocationTtlSeconds: v, prefix, channel }),
      (v: number) => BindingBroadcaster.connect(REDIS_URL, { revocationTtlSeconds: v, prefix, channel }),
    ],
  }

  for (const [option, calls] of Object.entries(connects)) {
    test.each(BAD_TTLS)(`${option}: %s is an INVALID_ARGUMENT naming the option, the range and the value`, async (bad, printed) => {
      for (const connect of calls) {
        // The binding throws at the call; the TS class rejects.
        const err = await Promise.resolve(bad).then(connect).then(
          (store) => {
            store.close()
            return store
          },
          (e: unknown) => e,
        )
        expect(err).toMatchObject({ code: 'INVALID_ARGUMENT', message: `${option} must be an integer from 1 to 4294967295 (seconds), got ${printed}` })
      }
    })
  }

  test('1 and 4294967295 are accepted as they are', async () => {
    for (const ttlSeconds of [1, 4_294_967_295]) {
      const store = await RedisSessionStore.connect(REDIS_URL, { ttlSeconds, prefix })
      expect(store.ttlSeconds).toBe(ttlSeconds)
      store.close()
    }
    const broadcaster = await RedisInvalidationBroadcaster.connect(REDIS_URL, { revocationTtlSeconds: 4_294_967_295, prefix, channel })
    expect(broadcaster.isSubscribed).toBe(true)
    broadcaster.close()
  })
})

describe('connect timeout message', () => {
  let blackHole: Server
  const sockets: Socket[] = []
  let port = 0
  beforeAll(async () => {
    // Accepts TCP connections and never answers a byte.
    blackHole = createServer((s) => sockets.push(s))
    await new Promise<void>((r) => blackHole.listen(0, '127.0.0.1', () => r()))
    const addr = blackHole.address()
    port = typeof addr === 'object' && addr !== null ? addr.port : 0
  })
  afterAll(async () => {
    for (const s of sockets) s.destroy()
    await new Promise((r) => blackHole.close(r))
  })

  test('connectTimeoutMs: 1500 is reported as 1.5s, not 1s', async () => {
    const err = await RedisRateLimitStore.connect(`redis://127.0.0.1:${port}`, { connectTimeoutMs: 1_500 }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(StoreUnavailableError)
    expect((err as StoreUnavailableError).code).toBe('STORE_UNAVAILABLE')
    expect((err as Error).message).toBe('redis connect timed out after 1.5s')
  }, 10_000)
})
