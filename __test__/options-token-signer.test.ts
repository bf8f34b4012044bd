// A gate refuses a verifier-only token signer at construction: it could never sign a permit,
// so every permit of the gate would be refused (`IDENTITY_FAILED`).

import { describe, expect, test } from 'vitest'

import { Gate, InvalidOptionsError, KavachKeyPair, PqTokenSigner } from '../index'

const POLICY = { policies: [{ name: 'reads', effect: 'permit' as const, conditions: [{ action: 'read' }] }] }
const CTX = { principalId: 'agent-7', principalKind: 'agent' as const, actionName: 'read' }

describe('tokenSigner', () => {
  const kp = KavachKeyPair.generate()
  const keys = kp.publicKeys()

  test.each([
    ['pqOnly', () => PqTokenSigner.pqOnly(Buffer.alloc(0), keys.mlDsaVerifyingKey, 'verifier-1')],
    ['hybrid', () => PqTokenSigner.hybrid(Buffer.alloc(0), keys.mlDsaVerifyingKey, Buffer.alloc(0), keys.ed25519VerifyingKey, 'verifier-1')],
  ])('a verifier-only %s signer is an InvalidOptionsError naming tokenSigner', (_mode, make) => {
    const signer = make()
    expect(signer.canSign).toBe(false)
    for (const build of [() => Gate.fromObject(POLICY, { tokenSigner: signer }), () => Gate.fromToml('', { tokenSigner: signer })]) {
      let err: unknown
      try {
        build()
      } catch (e) {
        err = e
      }
      expect(err).toBeInstanceOf(InvalidOptionsError)
      expect((err as Error).message).toBe(
        "gate options: option 'tokenSigner': signer 'verifier-1' is verifier only (canSign is false): a gate needs a signer that can sign its permits",
      )
    }
  })

  test('a signer with its signing keys signs every permit', () => {
    const signer = PqTokenSigner.fromKeypairHybrid(kp)
    expect(signer.canSign).toBe(true)
    const v = Gate.fromObject(POLICY, { tokenSigner: signer }).evaluate(CTX)
    expect(v.isPermit).toBe(true)
    expect(v.signature).toBeInstanceOf(Buffer)
    expect(() => signer.verify(v.permitToken!, v.signature!)).not.toThrow()
  })
})
