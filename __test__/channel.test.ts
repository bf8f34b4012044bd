// Secure channel (format v2): round trip, replay, context, recipient, tamper, re-wrap, window,
// default message size limit, ids with a lone surrogate.
import { describe, expect, it } from 'vitest'

import {
  ContextMismatchError,
  DecryptionFailedError,
  InvalidArgumentError,
  KavachError,
  KavachKeyPair,
  ReplayError,
  SecureChannel,
} from '../index'
import { errorOf } from './fixtures/errors'

const alice = KavachKeyPair.generate()
const bob = KavachKeyPair.generate()
const carol = KavachKeyPair.generate()
const channel = (from: KavachKeyPair, to: KavachKeyPair): SecureChannel => new SecureChannel(from, to.publicKeys())

interface Sealed {
  kem_ciphertext: number[]
  encrypted_data: number[]
  nonce: number[]
  auth_tag: number[]
  ephemeral_x25519_pk: number[] | null
  recipient_key_id: string
  payload_id: string
}

describe('SecureChannel', () => {
  it('round-trips signed and raw messages in the shared sealed JSON', () => {
    const ab = channel(alice, bob)
    const ba = channel(bob, alice)
    expect(ab.localKeyId).toBe(alice.id)
    expect(ab.remoteKeyId).toBe(bob.id)
    const sealed = ab.sendSigned(Buffer.from('refund 500'), 'ctx-refunds', 'corr-1')
    const json = JSON.parse(sealed.toString('utf8')) as Sealed
    expect(Object.keys(json)).toEqual([
      'kem_ciphertext', 'encrypted_data', 'nonce', 'auth_tag', 'ephemeral_x25519_pk', 'recipient_key_id', 'payload_id',
    ])
    expect(json.kem_ciphertext).toHaveLength(1088)
    expect(json.nonce).toHaveLength(12)
    expect(json.auth_tag).toEqual([])
    expect(json.ephemeral_x25519_pk).toHaveLength(32)
    expect(json.recipient_key_id).toBe(bob.id)
    expect(ba.receiveSigned(sealed, 'ctx-refunds').toString('utf8')).toBe('refund 500')
    // The plaintext of a signed message (read raw) carries the v2 marker and both ids.
    const inner = JSON.parse(channel(bob, alice).receiveData(ab.sendSigned(Buffer.from('x'), 'c', 'r')).toString('utf8')) as Record<string, unknown>
    expect(Object.keys(inner)).toEqual(['signed_payload', 'context_id', 'correlation_id', 'channel_version'])
    expect(inner.channel_version).toBe(2)
    const raw = ba.sendData(Buffer.from([0, 1, 2, 255]))
    expect([...ab.receiveData(raw)]).toEqual([0, 1, 2, 255])
  })

  it('a second receipt is a replay; a wrong context does not consume the nonce', () => {
    const ab = channel(alice, bob)
    const ba = channel(bob, alice)
    const sealed = ab.sendSigned(Buffer.from('once'), 'ctx-a', 'corr-1')
    const ctx = errorOf(() => ba.receiveSigned(sealed, 'ctx-b'))
    expect(ctx).toBeInstanceOf(ContextMismatchError)
    expect(ctx.message).toMatch(/context/)
    expect(ba.receiveSigned(sealed, 'ctx-a').toString()).toBe('once')
    const replay = errorOf(() => ba.receiveSigned(sealed, 'ctx-a'))
    expect(replay).toBeInstanceOf(ReplayError)
    expect(replay.code).toBe('REPLAY')
    expect(replay.message).toMatch(/replay/)
    expect(ba.trackedNonces).toBe(1)
  })

  it('refuses the wrong recipient, an unsigned blob and every flipped byte', () => {
    const ab = channel(alice, bob)
    const ca = channel(carol, alice)
    const ba = channel(bob, alice)
    const sealed = ab.sendSigned(Buffer.from('for bob'), 'ctx', 'corr')
    const wrong = errorOf(() => ca.receiveSigned(sealed, 'ctx'))
    expect(wrong).toBeInstanceOf(DecryptionFailedError)
    expect(wrong.message).toMatch(/wrong recipient/)
    const unsigned = errorOf(() => ba.receiveSigned(ab.sendData(Buffer.from('plain')), 'ctx'))
    expect(unsigned.message).toMatch(/not a signed channel message/)
    const base = JSON.parse(sealed.toString('utf8')) as Sealed
    const flips: Array<[string, (s: Sealed) => void]> = [
      ['kem_ciphertext', (s) => { s.kem_ciphertext[7] ^= 1 }],
      ['encrypted_data', (s) => { s.encrypted_data[3] ^= 1 }],
      ['tag', (s) => { s.encrypted_data[s.encrypted_data.length - 1] ^= 1 }],
      ['nonce', (s) => { s.nonce[0] ^= 1 }],
      ['ephemeral_x25519_pk', (s) => { s.ephemeral_x25519_pk![4] ^= 1 }],
      ['recipient_key_id', (s) => { s.recipient_key_id = carol.id }],
      ['payload_id', (s) => { s.payload_id = s.payload_id.replace(/^./, (c) => (c === 'a' ? 'b' : 'a')) }],
      ['missing X25519 leg', (s) => { s.ephemeral_x25519_pk = null }],
    ]
    for (const [name, flip] of flips) {
      const t = JSON.parse(JSON.stringify(base)) as Sealed
      flip(t)
      const err = errorOf(() => ba.receiveSigned(Buffer.from(JSON.stringify(t)), 'ctx'))
      expect(err.message.length, name).toBeGreaterThan(0)
    }
    // Byte-level flips of the raw JSON too (syntax or content): never accepted.
    for (const pos of [0, 100, Math.floor(sealed.length / 2), sealed.length - 3]) {
      const t = Buffer.from(sealed)
      t[pos] = t[pos]! ^ 0x01
      expect(() => ba.receiveSigned(t, 'ctx')).toThrow(KavachError)
    }
    // None of the rejections consumed the nonce.
    expect(ba.receiveSigned(sealed, 'ctx').toString()).toBe('for bob')
    const hybridOnly = errorOf(() => {
      const t = JSON.parse(JSON.stringify(base)) as Sealed
      t.ephemeral_x25519_pk = null
      channel(bob, alice).receiveSigned(Buffer.from(JSON.stringify(t)), 'ctx')
    })
    expect(hybridOnly.message).toMatch(/hybrid receiver requires the X25519 leg/)
  })

  it('re-wrapping a signed message to another recipient with another context is refused', () => {
    const ab = channel(alice, bob)
    const sealed = ab.sendSigned(Buffer.from('pay 10'), 'ctx-bob', 'corr-9')
    // Bob decrypts Alice's message and re-encrypts it to Carol under Carol's context.
    const inner = JSON.parse(channel(bob, alice).receiveData(sealed).toString('utf8')) as Record<string, unknown>
    inner.context_id = 'ctx-carol'
    const rewrapped = channel(bob, carol).sendData(Buffer.from(JSON.stringify(inner)))
    const err = errorOf(() => channel(carol, alice).receiveSigned(rewrapped, 'ctx-carol'))
    expect(err.message).toMatch(/signature verification failed/)
    // Same context, other recipient: refused too (the signature covers the recipient).
    inner.context_id = 'ctx-bob'
    const same = channel(bob, carol).sendData(Buffer.from(JSON.stringify(inner)))
    expect(errorOf(() => channel(carol, alice).receiveSigned(same, 'ctx-bob')).message).toMatch(/signature verification failed/)
  })

  it('refuses messages older than the window or from too far in the future (testing clock)', () => {
    const ab = channel(alice, bob)
    const ba = channel(bob, alice)
    const now = Date.now()
    ab.setClockForTesting(now - 301_000)
    const old = ab.sendSigned(Buffer.from('old'), 'ctx', 'c')
    ab.setClockForTesting(now + 60_000)
    const future = ab.sendSigned(Buffer.from('future'), 'ctx', 'c')
    ab.setClockForTesting(null)
    expect(errorOf(() => ba.receiveSigned(old, 'ctx')).message).toMatch(/older than the replay window/)
    expect(errorOf(() => ba.receiveSigned(future, 'ctx')).message).toMatch(/in the future/)
    const fresh = ab.sendSigned(Buffer.from('fresh'), 'ctx', 'c')
    expect(ba.receiveSigned(fresh, 'ctx').toString()).toBe('fresh')
    // After the window passes the nonce is forgotten, and the message is refused as too old.
    ba.setClockForTesting(now + 400_000)
    expect(errorOf(() => ba.receiveSigned(fresh, 'ctx')).code).toBe('REPLAY')
    expect(ba.trackedNonces).toBe(0)
    // A narrower window is configurable.
    const strict = new SecureChannel(bob, alice.publicKeys(), { replayWindowSeconds: 5 })
    ab.setClockForTesting(now - 10_000)
    expect(errorOf(() => strict.receiveSigned(ab.sendSigned(Buffer.from('x'), 'ctx', 'c'), 'ctx')).message).toMatch(/older/)
  })

  it('has a message size limit by default: a 20 MiB payload is refused on send, an oversized receipt before any parsing (issue 18 U4)', () => {
    const ab = channel(alice, bob)
    const big = Buffer.alloc(20 << 20, 7)
    for (const send of [() => ab.sendData(big), () => ab.sendSigned(big, 'ctx', 'c')]) {
      const err = errorOf(send)
      expect(err.code).toBe('INVALID_ARGUMENT')
      expect(err.message).toMatch(/maxMessageBytes/)
    }
    // Not even JSON: refused for its size, so it was never parsed or decrypted.
    const err = errorOf(() => channel(bob, alice).receiveSigned(Buffer.alloc(5 << 20, '['.charCodeAt(0)), 'ctx'))
    expect(err.code).toBe('INVALID_ARGUMENT')
    expect(err.message).toMatch(/maxMessageBytes/)
  })

  it('refuses a context or correlation id with a lone surrogate, so two ids never reach the native side as one', () => {
    const ab = channel(alice, bob)
    const ba = channel(bob, alice)
    const expectLoneSurrogate = (err: Error & { code?: string }, where: string, unit: string, index: number): void => {
      expect(err).toBeInstanceOf(InvalidArgumentError)
      expect(err.code).toBe('INVALID_ARGUMENT')
      expect(err.message).toBe(`${where} has a lone surrogate (\\u${unit}) at index ${index}: only well-formed strings are accepted`)
    }
    expectLoneSurrogate(errorOf(() => ab.sendSigned(Buffer.from('x'), 'ctx\ud800', 'c')), 'SecureChannel.sendSigned: contextId', 'D800', 3)
    expectLoneSurrogate(errorOf(() => ab.sendSigned(Buffer.from('x'), 'ctx', 'c\udfff')), 'SecureChannel.sendSigned: correlationId', 'DFFF', 1)
    // Sent for 'ctx\ufffd': 'ctx\udfff' would arrive natively as the same id, and is refused
    // before the message is opened, so its nonce stays unused for the right context.
    const sealed = ab.sendSigned(Buffer.from('refund 500'), 'ctx\ufffd', 'corr-1')
    expectLoneSurrogate(errorOf(() => ba.receiveSigned(sealed, 'ctx\udfff')), 'SecureChannel.receiveSigned: expectedContextId', 'DFFF', 3)
    expectLoneSurrogate(errorOf(() => ba.receiveSigned(sealed, '\ud800')), 'SecureChannel.receiveSigned: expectedContextId', 'D800', 0)
    expect(ba.receiveSigned(sealed, 'ctx\ufffd').toString()).toBe('refund 500')
    // A surrogate pair is an id of its own.
    const emoji = ab.sendSigned(Buffer.from('y'), 'ctx\ud83d\udd11', 'corr-\ud83d\udd11')
    expect(errorOf(() => ba.receiveSigned(emoji, 'ctx\ufffd'))).toBeInstanceOf(ContextMismatchError)
    expect(ba.receiveSigned(emoji, 'ctx\ud83d\udd11').toString()).toBe('y')
  })
})
