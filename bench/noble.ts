// What a user would write instead of kavach's post-quantum pieces with the pure-JS @noble
// libraries: a hybrid (ML-DSA-65 + Ed25519) signer, a hash-chained signed audit log, and a
// hybrid-encrypted (ML-KEM-768 + X25519 → HKDF-SHA256 → ChaCha20-Poly1305) signed message.
// The post-quantum and curve operations are @noble's; SHA-256, HKDF and the AEAD are
// node:crypto's (native), which only makes the peer faster. The peers of bench/pq.ts and
// bench/audit.ts; kavach does more per call (JSON envelopes, key ids, replay checks), so the
// comparisons are conservative.

import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto'

import { ed25519, x25519 } from '@noble/curves/ed25519.js'
import { ml_dsa65 } from '@noble/post-quantum/ml-dsa.js'
import { ml_kem768 } from '@noble/post-quantum/ml-kem.js'

export interface NobleSignature {
  dsa: Uint8Array
  ed: Uint8Array
}

/** ML-DSA-65 + Ed25519 keys; `hybrid: false` signs with ML-DSA-65 only. */
export class NobleSigner {
  readonly dsa = ml_dsa65.keygen()
  readonly edSecret = ed25519.utils.randomSecretKey()
  readonly edPublic = ed25519.getPublicKey(this.edSecret)
  readonly kem = ml_kem768.keygen()
  readonly x = x25519.keygen()

  constructor(readonly hybrid: boolean) {}

  sign(msg: Uint8Array): NobleSignature {
    return { dsa: ml_dsa65.sign(msg, this.dsa.secretKey), ed: this.hybrid ? ed25519.sign(msg, this.edSecret) : new Uint8Array() }
  }

  verify(sig: NobleSignature, msg: Uint8Array): boolean {
    return ml_dsa65.verify(sig.dsa, msg, this.dsa.publicKey) && (!this.hybrid || ed25519.verify(sig.ed, msg, this.edPublic))
  }
}

/** Every key a kavach keypair holds: ML-DSA-65, Ed25519, ML-KEM-768, X25519. */
export function nobleKeygen(): void {
  ml_dsa65.keygen()
  ed25519.keygen()
  ml_kem768.keygen()
  x25519.keygen()
}

/** An in-memory audit log: each line is the entry, its hybrid signature and SHA-256(previous hash ‖ entry ‖ signatures). */
export class NobleAuditLog {
  readonly lines: string[] = []
  #head: Uint8Array = new Uint8Array(32)

  constructor(readonly signer: NobleSigner) {}

  append(entry: object): void {
    const data = new TextEncoder().encode(JSON.stringify(entry))
    const sig = this.signer.sign(data)
    const hash = createHash('sha256').update(this.#head).update(data).update(sig.dsa).update(sig.ed).digest()
    this.lines.push(JSON.stringify({ index: this.lines.length, data: Buffer.from(data).toString('base64'), dsa: Buffer.from(sig.dsa).toString('base64'), ed: Buffer.from(sig.ed).toString('base64'), hash: Buffer.from(hash).toString('hex') }))
    this.#head = hash
  }
}

const INFO = 'bench channel v1'
const TAG = 16

function channelKey(kemSecret: Uint8Array, xSecret: Uint8Array): Buffer {
  return Buffer.from(hkdfSync('sha256', Buffer.concat([kemSecret, xSecret]), Buffer.alloc(0), INFO, 32))
}

/** Sign `data` as `from`, encrypt it to `to`: ML-KEM encapsulation + ephemeral X25519, HKDF, ChaCha20-Poly1305. */
export function nobleSendSigned(from: NobleSigner, to: NobleSigner, data: Uint8Array): Uint8Array[] {
  const sig = from.sign(data)
  const { cipherText, sharedSecret } = ml_kem768.encapsulate(to.kem.publicKey)
  const eph = x25519.keygen()
  const nonce = randomBytes(12)
  const plain = new Uint8Array([...sig.dsa, ...sig.ed, ...data])
  const cipher = createCipheriv('chacha20-poly1305', channelKey(sharedSecret, x25519.getSharedSecret(eph.secretKey, to.x.publicKey)), nonce, { authTagLength: TAG })
  const sealed = Buffer.concat([cipher.update(plain), cipher.final(), cipher.getAuthTag()])
  return [cipherText, eph.publicKey, nonce, sealed]
}

/** Decrypt as `to` and verify `from`'s signatures; throws on any failure. */
export function nobleReceiveSigned(from: NobleSigner, to: NobleSigner, [cipherText, ephPublic, nonce, sealed]: Uint8Array[]): Uint8Array {
  const kemSecret = ml_kem768.decapsulate(cipherText!, to.kem.secretKey)
  const decipher = createDecipheriv('chacha20-poly1305', channelKey(kemSecret, x25519.getSharedSecret(to.x.secretKey, ephPublic!)), nonce!, { authTagLength: TAG })
  decipher.setAuthTag(sealed!.subarray(sealed!.length - TAG))
  const plain = Buffer.concat([decipher.update(sealed!.subarray(0, sealed!.length - TAG)), decipher.final()])
  const dsaLen = ml_dsa65.lengths.signature ?? 3309
  const edLen = from.hybrid ? 64 : 0
  const sig = { dsa: plain.subarray(0, dsaLen), ed: plain.subarray(dsaLen, dsaLen + edLen) }
  const data = plain.subarray(dsaLen + edLen)
  if (!from.verify(sig, data)) throw new Error('noble channel: bad signature')
  return data
}
