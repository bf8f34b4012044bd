// Redis timeouts are whole milliseconds from 1 to 600,000 (issue 18 H2): -1, 1e20 and 2^32 + 1000
// used to wrap (never time out, or 1 s) through a u32 conversion. Each is now an
// INVALID_ARGUMENT naming the option, before any connection is made.

import { describe, expect, test } from 'vitest'

import { RedisInvalidationBroadcaster, RedisRateLimitStore, RedisSessionStore } from '../index'
import { REDIS_URL } from './fixtures/redis-helpers'

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
