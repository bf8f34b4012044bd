// Secure channel (format v2): the native class, constructor and methods rethrowing native
// errors as typed `KavachError`s (`ReplayError`, `ContextMismatchError`,
// `DecryptionFailedError`, `SignatureInvalidError`). Crypto lives in crates/kavach-pq (channel/).

import { SecureChannel as NativeSecureChannel } from '../binding.js'
import type { KavachKeyPair, PublicKeyBundle, SecureChannelOptions } from '../binding.js'
import { InvalidArgumentError } from './errors.js'
import { nativeError, wrapNativeMethods } from './native-errors.js'
import { type FieldChecks, boolean, checkedOptions, number } from './options.js'
import { checkWellFormedArguments } from './well-formed.js'

wrapNativeMethods(NativeSecureChannel, [
  'sendSigned',
  'receiveSigned',
  'sendData',
  'receiveData',
  'setClockForTesting',
])

// The context and correlation ids are signed and compared as given (src/well-formed.ts): with a
// lone surrogate, a message sent for 'ctx\ud800' would be accepted where 'ctx\udfff' is expected.
checkWellFormedArguments(NativeSecureChannel, {
  sendSigned: { 1: 'contextId', 2: 'correlationId' },
  receiveSigned: { 1: 'expectedContextId' },
})

const OPTIONS: FieldChecks<SecureChannelOptions> = {
  what: 'SecureChannel options',
  noun: 'option',
  error: InvalidArgumentError,
  checks: {
    hybrid: boolean,
    replayWindowSeconds: number,
    maxFutureSkewSeconds: number,
    maxTrackedNonces: number,
    acceptV1: boolean,
    maxMessageBytes: number,
  },
}

/** An encrypted, signed, replay-protected channel from a local key pair to a remote bundle. */
export class SecureChannel extends NativeSecureChannel {
  constructor(localKp: KavachKeyPair, remoteBundle: PublicKeyBundle, options?: SecureChannelOptions | null) {
    try {
      // Own properties only: an inherited `hybrid: false` or `acceptV1: true` would downgrade it.
      super(localKp, remoteBundle, checkedOptions(OPTIONS, options))
    } catch (e) {
      throw nativeError(e, 'SecureChannel constructor', [localKp, remoteBundle], ['localKp', 'remoteBundle'])
    }
  }
}

export type { SecureChannelOptions }
