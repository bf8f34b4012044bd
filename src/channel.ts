// Secure channel (format v2): the native class, constructor and methods rethrowing native
// errors as typed `KavachError`s (`ReplayError`, `ContextMismatchError`,
// `DecryptionFailedError`, `SignatureInvalidError`). Crypto lives in crates/kavach-pq (channel/).

import { SecureChannel as NativeSecureChannel } from '../binding.js'
import type { KavachKeyPair, PublicKeyBundle, SecureChannelOptions } from '../binding.js'
import { toKavachError } from './errors.js'
import { wrapNativeMethods } from './native-errors.js'

wrapNativeMethods(NativeSecureChannel, [
  'sendSigned',
  'receiveSigned',
  'sendData',
  'receiveData',
  'setClockForTesting',
])

/** An encrypted, signed, replay-protected channel from a local key pair to a remote bundle. */
export class SecureChannel extends NativeSecureChannel {
  constructor(localKp: KavachKeyPair, remoteBundle: PublicKeyBundle, options?: SecureChannelOptions | null) {
    try {
      super(localKp, remoteBundle, options)
    } catch (e) {
      throw toKavachError(e)
    }
  }
}

export type { SecureChannelOptions }
