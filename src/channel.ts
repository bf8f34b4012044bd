// Secure channel (format v2): the native class, constructor and methods rethrowing native
// errors as typed `KavachError`s (`ReplayError`, `ContextMismatchError`,
// `DecryptionFailedError`, `SignatureInvalidError`). Crypto lives in crates/kavach-pq (channel/).

import { SecureChannel as NativeSecureChannel } from '../binding.js'
import type { KavachKeyPair, PublicKeyBundle, SecureChannelOptions } from '../binding.js'
import { InvalidArgumentError } from './errors.js'
import { nativeError, wrapNativeMethods } from './native-errors.js'
import { type FieldChecks, boolean, checkedOptions, number } from './options.js'

wrapNativeMethods(NativeSecureChannel, [
  'sendSigned',
  'receiveSigned',
  'sendData',
  'receiveData',
  'setClockForTesting',
])

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
