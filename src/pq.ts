// Post-quantum identity: key pairs, public-key bundles, the permit token signer, key
// directories and the directory verifier. Thin subclasses of the native classes whose every
// method rethrows native errors as typed `KavachError`s (`SignatureInvalidError`,
// `KeyNotFoundError`, `KeyExpiredError`, `AlgorithmMismatchError`, ...). Keys, signing and
// verification live in crates/kavach-pq; instances stay native objects, so a `PqTokenSigner`
// can be passed as `GateOptions.tokenSigner` and a `KavachKeyPair` to `SignedAuditChain`.

import {
  DirectoryTokenVerifier as NativeDirectoryTokenVerifier,
  KavachKeyPair as NativeKavachKeyPair,
  PqTokenSigner as NativePqTokenSigner,
  PublicKeyBundle as NativePublicKeyBundle,
  PublicKeyDirectory as NativePublicKeyDirectory,
} from '../binding.js'
import type { ImportSecretOptions, PermitTokenInput, PublicKeyBundleRecord } from '../binding.js'
import { native, nativeAsync, toKavachError } from './errors.js'
import { rebrand, wrapNativeMethods } from './native-errors.js'

wrapNativeMethods(NativeKavachKeyPair, ['exportSecret', 'publicKeys', 'buildSignedManifest'])
wrapNativeMethods(NativePublicKeyBundle, ['toJSON', 'toRecord'])
wrapNativeMethods(NativePqTokenSigner, ['sign', 'verify'], 'sync', { sign: ['token'], verify: ['token', 'signature'] })
wrapNativeMethods(NativePublicKeyDirectory, ['fetch', 'insert', 'remove', 'reload', 'keyIds'])
wrapNativeMethods(NativeDirectoryTokenVerifier, ['verify'], 'sync', { verify: ['token', 'signature'] })

/** The public keys of one identity (FORMATS.md bundle); `toJSON()` is the wire JSON. */
export class PublicKeyBundle extends NativePublicKeyBundle {
  /** Parse bundle JSON (string or UTF-8 bytes); every key length is checked. */
  static override fromJSON(json: string | Buffer): PublicKeyBundle {
    return rebrand(native(() => NativePublicKeyBundle.fromJSON(json)), PublicKeyBundle)
  }

  /** From the record shape (`toRecord()`); every key length is checked. */
  static override fromRecord(record: PublicKeyBundleRecord): PublicKeyBundle {
    return rebrand(native(() => NativePublicKeyBundle.fromRecord(record)), PublicKeyBundle)
  }
}

/** A Kavach identity: ML-DSA-65 + Ed25519 signing keys, ML-KEM-768 + X25519 agreement keys. */
export class KavachKeyPair extends NativeKavachKeyPair {
  static override generate(): KavachKeyPair {
    return rebrand(native(() => NativeKavachKeyPair.generate()), KavachKeyPair)
  }

  static override generateWithExpiry(seconds: number): KavachKeyPair {
    return rebrand(native(() => NativeKavachKeyPair.generateWithExpiry(seconds)), KavachKeyPair)
  }

  /** Restore an identity from `exportSecret()` bytes (same id, keys, creation and expiry). */
  static override importSecret(bytes: Buffer, passphrase?: string | null, options?: ImportSecretOptions | null): KavachKeyPair {
    return rebrand(native(() => NativeKavachKeyPair.importSecret(bytes, passphrase, options)), KavachKeyPair)
  }

  /**
   * `importSecret` with the key derivation (scrypt) off the event loop: resolves to the same
   * identity, rejects with the same errors (`PASSPHRASE_INVALID`, `FORMAT_INVALID`,
   * `INVALID_ARGUMENT` naming a scrypt parameter above its cap).
   */
  static override async importSecretAsync(bytes: Buffer, passphrase?: string | null, options?: ImportSecretOptions | null): Promise<KavachKeyPair> {
    const kp = await nativeAsync(() => NativeKavachKeyPair.importSecretAsync(bytes, passphrase, options), 'KavachKeyPair.importSecretAsync')
    return rebrand(kp, KavachKeyPair)
  }

  override publicKeys(): PublicKeyBundle {
    return rebrand(super.publicKeys(), PublicKeyBundle)
  }
}

/** Signs permit tokens (ML-DSA-65, plus Ed25519 when hybrid) and verifies them in its own mode. */
export class PqTokenSigner extends NativePqTokenSigner {
  static override generateHybrid(): PqTokenSigner {
    return rebrand(native(() => NativePqTokenSigner.generateHybrid()), PqTokenSigner)
  }

  static override generatePqOnly(): PqTokenSigner {
    return rebrand(native(() => NativePqTokenSigner.generatePqOnly()), PqTokenSigner)
  }

  static override fromKeypairHybrid(kp: NativeKavachKeyPair): PqTokenSigner {
    return rebrand(native(() => NativePqTokenSigner.fromKeypairHybrid(kp)), PqTokenSigner)
  }

  static override fromKeypairPqOnly(kp: NativeKavachKeyPair): PqTokenSigner {
    return rebrand(native(() => NativePqTokenSigner.fromKeypairPqOnly(kp)), PqTokenSigner)
  }

  /** From raw bytes; empty signing keys make a verifier-only signer. */
  static override hybrid(mlDsaSk: Buffer, mlDsaVk: Buffer, edSk: Buffer, edVk: Buffer, keyId: string): PqTokenSigner {
    return rebrand(native(() => NativePqTokenSigner.hybrid(mlDsaSk, mlDsaVk, edSk, edVk, keyId)), PqTokenSigner)
  }

  static override hybridFromBytes(mlDsaSk: Buffer, mlDsaVk: Buffer, edSk: Buffer, edVk: Buffer, keyId: string): PqTokenSigner {
    return PqTokenSigner.hybrid(mlDsaSk, mlDsaVk, edSk, edVk, keyId)
  }

  /** From raw bytes; an empty signing key makes a verifier-only signer. */
  static override pqOnly(mlDsaSk: Buffer, mlDsaVk: Buffer, keyId: string): PqTokenSigner {
    return rebrand(native(() => NativePqTokenSigner.pqOnly(mlDsaSk, mlDsaVk, keyId)), PqTokenSigner)
  }
}

/** Key id → public keys: in memory, or a (root-signed) manifest file that `reload()` re-reads. */
export class PublicKeyDirectory extends NativePublicKeyDirectory {
  static override inMemory(bundles?: NativePublicKeyBundle[] | null): PublicKeyDirectory {
    return rebrand(native(() => NativePublicKeyDirectory.inMemory(bundles)), PublicKeyDirectory)
  }

  static override fromFile(path: string): PublicKeyDirectory {
    return rebrand(native(() => NativePublicKeyDirectory.fromFile(path)), PublicKeyDirectory)
  }

  /** Loads only after the root ML-DSA-65 signature over the manifest verifies. */
  static override fromSignedFile(path: string, rootMlDsaVerifyingKey: Buffer): PublicKeyDirectory {
    return rebrand(native(() => NativePublicKeyDirectory.fromSignedFile(path, rootMlDsaVerifyingKey)), PublicKeyDirectory)
  }

  static override buildUnsignedManifest(bundles: NativePublicKeyBundle[]): Buffer {
    return native(() => NativePublicKeyDirectory.buildUnsignedManifest(bundles))
  }

  override fetch(keyId: string): PublicKeyBundle {
    return rebrand(super.fetch(keyId), PublicKeyBundle)
  }
}

/** Verifies permit envelopes against a directory, accepting only its own mode (hybrid by default). */
export class DirectoryTokenVerifier extends NativeDirectoryTokenVerifier {
  constructor(directory: NativePublicKeyDirectory, hybrid = true) {
    try {
      super(directory, hybrid)
    } catch (e) {
      throw toKavachError(e, 'DirectoryTokenVerifier constructor')
    }
  }
}

export type { ImportSecretOptions, PermitTokenInput, PublicKeyBundleRecord }
