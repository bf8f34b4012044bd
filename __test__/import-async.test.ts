// KavachKeyPair.importSecretAsync: the scrypt key derivation of an encrypted export runs off the
// event loop (it keeps ticking while the import runs); same identity and same errors as the
// synchronous importSecret.

import { describe, expect, test } from 'vitest'

import { InvalidArgumentError, KavachKeyPair, PassphraseInvalidError } from '../index'

async function rejection(p: Promise<unknown>): Promise<{ code?: unknown; message: string; error: unknown }> {
  try {
    await p
  } catch (e) {
    return { code: (e as { code?: unknown }).code, message: (e as Error).message, error: e }
  }
  throw new Error('expected a rejection')
}

describe('importSecretAsync', () => {
  const kp = KavachKeyPair.generate()
  const blob = kp.exportSecret('pw-1')

  test('restores the same identity while the event loop keeps ticking', async () => {
    let ticks = 0
    let running = true
    const tick = (): void => {
      ticks++
      if (running) setImmediate(tick)
    }
    setImmediate(tick)
    const pending = KavachKeyPair.importSecretAsync(blob, 'pw-1')
    expect(pending).toBeInstanceOf(Promise)
    const back = await pending
    running = false
    // scrypt at the default cost (log_n 17, r 8: 128 MiB) takes far longer than one tick.
    expect(ticks).toBeGreaterThan(10)
    expect(back).toBeInstanceOf(KavachKeyPair)
    expect(back.id).toBe(kp.id)
    expect(back.publicKeys().toJSON()).toBe(kp.publicKeys().toJSON())
    // A raw export (no passphrase) imports too.
    expect((await KavachKeyPair.importSecretAsync(kp.exportSecret())).id).toBe(kp.id)
  }, 60_000)

  test('rejects with the same errors as importSecret', async () => {
    const wrong = await rejection(KavachKeyPair.importSecretAsync(blob, 'pw-2'))
    expect(wrong.error).toBeInstanceOf(PassphraseInvalidError)
    expect(wrong.code).toBe('PASSPHRASE_INVALID')
    expect(wrong.message).toMatch(/wrong passphrase/)
    const missing = await rejection(KavachKeyPair.importSecretAsync(blob))
    expect(missing.code).toBe('PASSPHRASE_INVALID')
    // A header asking for more scrypt work than the caps: refused before any derivation.
    const costly = Buffer.from(blob)
    costly[6] = 19
    const capped = await rejection(KavachKeyPair.importSecretAsync(costly, 'pw-1'))
    expect(capped.error).toBeInstanceOf(InvalidArgumentError)
    expect(capped.message).toMatch(/log_n = 19/)
    // Bad options are a rejection too (not a sync throw).
    const badOption = KavachKeyPair.importSecretAsync(blob, 'pw-1', { maxScryptLogN: 99 })
    expect(badOption).toBeInstanceOf(Promise)
    expect((await rejection(badOption)).code).toBe('INVALID_ARGUMENT')
  }, 60_000)
})
