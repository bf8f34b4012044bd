// Native methods patched by wrapNativeMethods (src/native-errors.ts) throw, or reject with,
// typed KavachErrors carrying a code: one sync and one async method, against the real classes.

import { describe, expect, test } from 'vitest'

import { InvalidArgumentError, KavachError, PqTokenSigner, RedisInvalidationBroadcaster } from '../index'

describe('wrapped native methods', () => {
  test('async (Redis broadcaster publish): an unknown scope kind rejects with InvalidArgumentError', async () => {
    const b = await RedisInvalidationBroadcaster.connect('redis://127.0.0.1:6379', { channel: 'test-native-errors' })
    try {
      const p = b.publish('planet' as never, 'x', 'why')
      expect(p).toBeInstanceOf(Promise)
      await expect(p).rejects.toBeInstanceOf(InvalidArgumentError)
      await expect(b.publish('planet' as never, 'x', 'why')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' })
    } finally {
      await b.close()
    }
  })

  test('sync (token signer verify): a bad signature throws a KavachError with a code', () => {
    const signer = PqTokenSigner.generateHybrid()
    let err: unknown
    try {
      signer.verify({ tokenId: 't', evaluationId: 'e', issuedAt: 1, expiresAt: 2, actionName: 'a' } as never, Buffer.alloc(8))
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(KavachError)
    expect(typeof (err as KavachError).code).toBe('string')
  })
})
