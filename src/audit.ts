// Signed audit chain: the native classes, with every method rethrowing native errors as typed
// `KavachError`s (`ChainInvalidError`, `SignatureInvalidError`, `IoError`, ...). Signing,
// hashing, streaming verification and the durable file live in crates/kavach-pq (audit/).

import {
  AuditEntry as NativeAuditEntry,
  Checkpoint as NativeCheckpoint,
  SignedAuditChain as NativeSignedAuditChain,
} from '../binding.js'
import type {
  AuditEntryOptions,
  AuditFileOptions,
  KavachKeyPair,
  PublicKeyBundle,
  VerifyJsonlOptions,
} from '../binding.js'
import { noPublicConstructor } from './arguments.js'
import { InvalidArgumentError } from './errors.js'
import { nativeCall, nativeError, rebrand, wrapNativeMethods } from './native-errors.js'
import { type FieldChecks, boolean, checkedOptions, instance, number, string } from './options.js'
import { wellFormedProblem } from './well-formed.js'

wrapNativeMethods(NativeAuditEntry, ['toJSON'])
wrapNativeMethods(NativeCheckpoint, ['toJSON'])
wrapNativeMethods(NativeSignedAuditChain, ['append', 'appendBatch', 'sync', 'close', 'verify', 'exportJsonl', 'checkpoint'])

// Own properties only (src/options.ts): an inherited `hybrid: false` would open or verify a
// chain PQ-only, an inherited `resource` would be signed into an entry.
const ENTRY_OPTIONS: FieldChecks<AuditEntryOptions> = {
  what: 'AuditEntry.new options',
  noun: 'option',
  error: InvalidArgumentError,
  checks: { resource: string, decidedBy: string, ip: string, evaluationId: string, sessionId: string },
}
const FILE_OPTIONS: FieldChecks<AuditFileOptions> = {
  what: 'SignedAuditChain.openFile options',
  noun: 'option',
  error: InvalidArgumentError,
  checks: { hybrid: boolean, syncEvery: number },
}
const VERIFY_OPTIONS: FieldChecks<VerifyJsonlOptions> = {
  what: 'SignedAuditChain.verifyJsonl options',
  noun: 'option',
  error: InvalidArgumentError,
  checks: { hybrid: boolean, checkpoint: instance('Checkpoint') },
}

/** One audited decision; `verdict` is `permit`, `refuse` or `invalidate`. */
export class AuditEntry extends NativeAuditEntry {
  /** Instances come from the static factories only (`new` throws, naming them). */
  private constructor() {
    noPublicConstructor('AuditEntry', 'AuditEntry.new')
    super()
  }

  static override new(
    principalId: string,
    actionName: string,
    verdict: string,
    detail: string,
    options?: AuditEntryOptions | null,
  ): AuditEntry {
    const args = [principalId, actionName, verdict, detail]
    // Signed as given, so each must stand for itself (src/well-formed.ts).
    const names = ['principalId', 'actionName', 'verdict', 'detail']
    for (let i = 0; i < args.length; i++) {
      const problem = typeof args[i] === 'string' ? wellFormedProblem(`AuditEntry.new: ${names[i]!}`, args[i]!) : undefined
      if (problem !== undefined) throw new InvalidArgumentError(problem)
    }
    return rebrand(
      nativeCall('AuditEntry.new', args, () =>
        NativeAuditEntry.new(principalId, actionName, verdict, detail, checkedOptions(ENTRY_OPTIONS, options)),
      ),
      AuditEntry,
    )
  }
}

/** A signed (length, head hash, time) of a chain; verifying with it detects truncation. */
export class Checkpoint extends NativeCheckpoint {
  /** Instances come from the static factories only (`new` throws, naming them). */
  private constructor() {
    noPublicConstructor('Checkpoint', 'Checkpoint.fromJSON or chain.checkpoint()')
    super()
  }

  static override fromJSON(json: string | Buffer): Checkpoint {
    return rebrand(nativeCall('Checkpoint.fromJSON', [json], () => NativeCheckpoint.fromJSON(json), ['json']), Checkpoint)
  }
}

/** Append-only, signed, hash-linked audit chain (in memory, or a durable JSONL file). */
export class SignedAuditChain extends NativeSignedAuditChain {
  constructor(kp: KavachKeyPair, hybrid = true) {
    try {
      super(kp, hybrid)
    } catch (e) {
      throw nativeError(e, 'SignedAuditChain constructor', [kp, hybrid], ['kp', 'hybrid'])
    }
  }

  /** Open (or create) a durable chain file; existing entries are verified and continued. */
  static override openFile(path: string, kp: KavachKeyPair, opts?: AuditFileOptions | null): SignedAuditChain {
    return rebrand(
      nativeCall('SignedAuditChain.openFile', [path, kp], () => NativeSignedAuditChain.openFile(path, kp, checkedOptions(FILE_OPTIONS, opts)), ['path', 'kp']),
      SignedAuditChain,
    )
  }

  /** Verify a JSONL chain (streaming) and return its entry count. */
  static override verifyJsonl(
    blob: Buffer | string,
    bundle: PublicKeyBundle,
    options?: boolean | VerifyJsonlOptions | null,
  ): number {
    return nativeCall(
      'SignedAuditChain.verifyJsonl',
      [blob, bundle],
      () => NativeSignedAuditChain.verifyJsonl(blob, bundle, typeof options === 'boolean' ? options : checkedOptions(VERIFY_OPTIONS, options)),
      ['blob', 'bundle'],
    )
  }

  override checkpoint(): Checkpoint {
    return rebrand(super.checkpoint(), Checkpoint)
  }
}

export type { AuditEntryOptions, AuditFileOptions, VerifyJsonlOptions }
