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
import { noPublicConstructor, stringArgument } from './arguments.js'
import { InvalidArgumentError, native } from './errors.js'
import { nativeCall, nativeCallAsync, nativeError, rebrand, wrapNativeMethods } from './native-errors.js'
import { type FieldChecks, boolean, bytes, checkedArgument, checkedOptions, ignored, number, string } from './options.js'
import { checkWellFormed, checkWellFormedArguments } from './well-formed.js'

wrapNativeMethods(NativeKavachKeyPair, ['exportSecret', 'publicKeys', 'buildSignedManifest'])
wrapNativeMethods(NativePublicKeyBundle, ['toJSON', 'toRecord'])
wrapNativeMethods(NativePqTokenSigner, ['sign', 'verify'], 'sync', { sign: ['token'], verify: ['token', 'signature'] })
wrapNativeMethods(NativePublicKeyDirectory, ['fetch', 'insert', 'remove', 'reload'])
wrapNativeMethods(NativeDirectoryTokenVerifier, ['verify'], 'sync', { verify: ['token', 'signature'] })

// A passphrase and a key id must stand for themselves (src/well-formed.ts): with a lone
// surrogate, an export would open with a different passphrase, and a lookup or removal would
// reach another key. The static factories check theirs below; tokens and key records are
// checked field by field (`string` in src/options.ts).
checkWellFormedArguments(NativeKavachKeyPair, { exportSecret: { 0: 'passphrase' } })
checkWellFormedArguments(NativePublicKeyDirectory, { fetch: { 0: 'keyId' }, remove: { 0: 'keyId' } })

// Own properties only (src/options.ts): an inherited `actionName` would complete a token, an
// inherited `maxScryptLogN` raise a cap. A token's unknown field is refused rather than
// ignored: it would look covered by the signature without being so.
const TOKEN_CHECKS: FieldChecks<PermitTokenInput>['checks'] = {
  tokenId: string,
  evaluationId: string,
  issuedAt: number,
  expiresAt: number,
  actionName: string,
  signature: ignored,
  observeOnly: boolean,
}
const TOKEN_REQUIRED: FieldChecks<PermitTokenInput>['required'] = { tokenId: true, evaluationId: true, issuedAt: true, expiresAt: true, actionName: true }
const tokenFields = (where: string): FieldChecks<PermitTokenInput> => ({
  what: `${where}: token`,
  noun: 'field',
  error: InvalidArgumentError,
  checks: TOKEN_CHECKS,
  required: TOKEN_REQUIRED,
})
const SIGN_TOKEN = tokenFields('PqTokenSigner.sign')
const VERIFY_TOKEN = tokenFields('PqTokenSigner.verify')
const DIRECTORY_VERIFY_TOKEN = tokenFields('DirectoryTokenVerifier.verify')
const BUNDLE_RECORD: FieldChecks<PublicKeyBundleRecord> = {
  what: 'PublicKeyBundle.fromRecord: record',
  noun: 'field',
  error: InvalidArgumentError,
  checks: {
    id: string,
    mlDsaVerifyingKey: bytes,
    mlKemEncapsulationKey: bytes,
    ed25519VerifyingKey: bytes,
    x25519PublicKey: bytes,
    createdAt: number,
    expiresAt: number,
  },
  required: { id: true, mlDsaVerifyingKey: true, mlKemEncapsulationKey: true, ed25519VerifyingKey: true, x25519PublicKey: true, createdAt: true },
}
const IMPORT_OPTIONS: FieldChecks<ImportSecretOptions> = {
  what: 'KavachKeyPair.importSecret options',
  noun: 'option',
  error: InvalidArgumentError,
  checks: { maxScryptLogN: number, maxScryptR: number, maxScryptP: number },
}

/** A passphrase is a well-formed string, or absent (null or undefined). */
function checkPassphrase(where: string, passphrase: unknown): void {
  if (passphrase !== null && passphrase !== undefined) checkWellFormed(where, 'passphrase', stringArgument(where, 'passphrase', passphrase))
}

/** The public keys of one identity (FORMATS.md bundle); `toJSON()` is the wire JSON. */
export class PublicKeyBundle extends NativePublicKeyBundle {
  /** Instances come from the static factories only (`new` throws, naming them). */
  private constructor() {
    noPublicConstructor('PublicKeyBundle', 'PublicKeyBundle.fromJSON, PublicKeyBundle.fromRecord or keyPair.publicKeys()')
    super()
  }

  /** Parse bundle JSON (string or UTF-8 bytes); every key length is checked. */
  static override fromJSON(json: string | Buffer): PublicKeyBundle {
    // The text itself: a lone surrogate in an id would reach the parser as U+FFFD.
    checkWellFormed('PublicKeyBundle.fromJSON', 'json', json)
    return rebrand(nativeCall('PublicKeyBundle.fromJSON', [json], () => NativePublicKeyBundle.fromJSON(json), ['json']), PublicKeyBundle)
  }

  /** From the record shape (`toRecord()`); every key length is checked. */
  static override fromRecord(record: PublicKeyBundleRecord): PublicKeyBundle {
    const from = (): NativePublicKeyBundle => NativePublicKeyBundle.fromRecord(checkedArgument(BUNDLE_RECORD, record))
    return rebrand(nativeCall('PublicKeyBundle.fromRecord', [record], from, ['record']), PublicKeyBundle)
  }
}

/** A Kavach identity: ML-DSA-65 + Ed25519 signing keys, ML-KEM-768 + X25519 agreement keys. */
export class KavachKeyPair extends NativeKavachKeyPair {
  /** Instances come from the static factories only (`new` throws, naming them). */
  private constructor() {
    noPublicConstructor('KavachKeyPair', 'KavachKeyPair.generate, KavachKeyPair.generateWithExpiry or KavachKeyPair.importSecret')
    super()
  }

  static override generate(): KavachKeyPair {
    return rebrand(native(() => NativeKavachKeyPair.generate()), KavachKeyPair)
  }

  static override generateWithExpiry(seconds: number): KavachKeyPair {
    return rebrand(nativeCall('KavachKeyPair.generateWithExpiry', [seconds], () => NativeKavachKeyPair.generateWithExpiry(seconds), ['seconds']), KavachKeyPair)
  }

  /** Restore an identity from `exportSecret()` bytes (same id, keys, creation and expiry). */
  static override importSecret(bytes: Buffer, passphrase?: string | null, options?: ImportSecretOptions | null): KavachKeyPair {
    checkPassphrase('KavachKeyPair.importSecret', passphrase)
    const from = (): NativeKavachKeyPair => NativeKavachKeyPair.importSecret(bytes, passphrase, checkedOptions(IMPORT_OPTIONS, options))
    return rebrand(nativeCall('KavachKeyPair.importSecret', [bytes], from, ['bytes']), KavachKeyPair)
  }

  /**
   * `importSecret` with the key derivation (scrypt) off the event loop: resolves to the same
   * identity, rejects with the same errors (`PASSPHRASE_INVALID`, `FORMAT_INVALID`,
   * `INVALID_ARGUMENT` naming a scrypt parameter above its cap).
   */
  static override async importSecretAsync(bytes: Buffer, passphrase?: string | null, options?: ImportSecretOptions | null): Promise<KavachKeyPair> {
    checkPassphrase('KavachKeyPair.importSecretAsync', passphrase)
    const from = (): Promise<NativeKavachKeyPair> => NativeKavachKeyPair.importSecretAsync(bytes, passphrase, checkedOptions(IMPORT_OPTIONS, options))
    return rebrand(await nativeCallAsync('KavachKeyPair.importSecretAsync', [bytes], from, ['bytes']), KavachKeyPair)
  }

  override publicKeys(): PublicKeyBundle {
    return rebrand(super.publicKeys(), PublicKeyBundle)
  }
}

/** A hybrid signer from raw bytes; errors name `method`, the method the caller called. */
function hybridSigner(method: string, mlDsaSk: Buffer, mlDsaVk: Buffer, edSk: Buffer, edVk: Buffer, keyId: string): PqTokenSigner {
  checkWellFormed(method, 'keyId', keyId)
  return rebrand(nativeCall(method, [mlDsaSk, mlDsaVk, edSk, edVk, keyId], () => NativePqTokenSigner.hybrid(mlDsaSk, mlDsaVk, edSk, edVk, keyId), ['mlDsaSk', 'mlDsaVk', 'edSk', 'edVk', 'keyId']), PqTokenSigner)
}

/** Signs permit tokens (ML-DSA-65, plus Ed25519 when hybrid) and verifies them in its own mode. */
export class PqTokenSigner extends NativePqTokenSigner {
  /** Instances come from the static factories only (`new` throws, naming them). */
  private constructor() {
    noPublicConstructor('PqTokenSigner', 'PqTokenSigner.generateHybrid, generatePqOnly, fromKeypairHybrid or fromKeypairPqOnly')
    super()
  }

  static override generateHybrid(): PqTokenSigner {
    return rebrand(native(() => NativePqTokenSigner.generateHybrid()), PqTokenSigner)
  }

  static override generatePqOnly(): PqTokenSigner {
    return rebrand(native(() => NativePqTokenSigner.generatePqOnly()), PqTokenSigner)
  }

  static override fromKeypairHybrid(kp: NativeKavachKeyPair): PqTokenSigner {
    return rebrand(nativeCall('PqTokenSigner.fromKeypairHybrid', [kp], () => NativePqTokenSigner.fromKeypairHybrid(kp), ['kp']), PqTokenSigner)
  }

  static override fromKeypairPqOnly(kp: NativeKavachKeyPair): PqTokenSigner {
    return rebrand(nativeCall('PqTokenSigner.fromKeypairPqOnly', [kp], () => NativePqTokenSigner.fromKeypairPqOnly(kp), ['kp']), PqTokenSigner)
  }

  /** From raw bytes; empty signing keys make a verifier-only signer. */
  static override hybrid(mlDsaSk: Buffer, mlDsaVk: Buffer, edSk: Buffer, edVk: Buffer, keyId: string): PqTokenSigner {
    return hybridSigner('PqTokenSigner.hybrid', mlDsaSk, mlDsaVk, edSk, edVk, keyId)
  }

  static override hybridFromBytes(mlDsaSk: Buffer, mlDsaVk: Buffer, edSk: Buffer, edVk: Buffer, keyId: string): PqTokenSigner {
    return hybridSigner('PqTokenSigner.hybridFromBytes', mlDsaSk, mlDsaVk, edSk, edVk, keyId)
  }

  /** From raw bytes; an empty signing key makes a verifier-only signer. */
  static override pqOnly(mlDsaSk: Buffer, mlDsaVk: Buffer, keyId: string): PqTokenSigner {
    checkWellFormed('PqTokenSigner.pqOnly', 'keyId', keyId)
    return rebrand(nativeCall('PqTokenSigner.pqOnly', [mlDsaSk, mlDsaVk, keyId], () => NativePqTokenSigner.pqOnly(mlDsaSk, mlDsaVk, keyId), ['mlDsaSk', 'mlDsaVk', 'keyId']), PqTokenSigner)
  }

  override sign(token: PermitTokenInput): Buffer {
    return super.sign(checkedArgument(SIGN_TOKEN, token))
  }

  override verify(token: PermitTokenInput, signature: Buffer): void {
    super.verify(checkedArgument(VERIFY_TOKEN, token), signature)
  }
}

/** Key id → public keys: in memory, or a (root-signed) manifest file that `reload()` re-reads. */
export class PublicKeyDirectory extends NativePublicKeyDirectory {
  /** Instances come from the static factories only (`new` throws, naming them). */
  private constructor() {
    noPublicConstructor('PublicKeyDirectory', 'PublicKeyDirectory.inMemory, PublicKeyDirectory.fromFile or PublicKeyDirectory.fromSignedFile')
    super()
  }

  static override inMemory(bundles?: NativePublicKeyBundle[] | null): PublicKeyDirectory {
    return rebrand(nativeCall('PublicKeyDirectory.inMemory', [bundles], () => NativePublicKeyDirectory.inMemory(bundles), ['bundles']), PublicKeyDirectory)
  }

  static override fromFile(path: string): PublicKeyDirectory {
    return rebrand(nativeCall('PublicKeyDirectory.fromFile', [path], () => NativePublicKeyDirectory.fromFile(path), ['path']), PublicKeyDirectory)
  }

  /** Loads only after the root ML-DSA-65 signature over the manifest verifies. */
  static override fromSignedFile(path: string, rootMlDsaVerifyingKey: Buffer): PublicKeyDirectory {
    return rebrand(nativeCall('PublicKeyDirectory.fromSignedFile', [path, rootMlDsaVerifyingKey], () => NativePublicKeyDirectory.fromSignedFile(path, rootMlDsaVerifyingKey), ['path', 'rootMlDsaVerifyingKey']), PublicKeyDirectory)
  }

  static override buildUnsignedManifest(bundles: NativePublicKeyBundle[]): Buffer {
    return nativeCall('PublicKeyDirectory.buildUnsignedManifest', [bundles], () => NativePublicKeyDirectory.buildUnsignedManifest(bundles), ['bundles'])
  }

  override fetch(keyId: string): PublicKeyBundle {
    return rebrand(super.fetch(keyId), PublicKeyBundle)
  }

  /** Key ids, sorted. A getter, so `wrapNativeMethods` leaves it: its native errors are typed here. */
  override get keyIds(): string[] {
    return nativeCall('PublicKeyDirectory.keyIds', [], () => super.keyIds)
  }
}

/** Verifies permit envelopes against a directory, accepting only its own mode (hybrid by default). */
export class DirectoryTokenVerifier extends NativeDirectoryTokenVerifier {
  constructor(directory: NativePublicKeyDirectory, hybrid = true) {
    try {
      super(directory, hybrid)
    } catch (e) {
      throw nativeError(e, 'DirectoryTokenVerifier constructor', [directory, hybrid], ['directory', 'hybrid'])
    }
  }

  override verify(token: PermitTokenInput, signature: Buffer, enforceExpiry?: boolean | null): void {
    super.verify(checkedArgument(DIRECTORY_VERIFY_TOKEN, token), signature, enforceExpiry)
  }
}

export type { ImportSecretOptions, PermitTokenInput, PublicKeyBundleRecord }
