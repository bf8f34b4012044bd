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
import { native } from './errors.js'
import { rebrand, wrapNativeMethods } from './native-errors.js'

wrapNativeMethods(NativeAuditEntry, ['toJSON'])
wrapNativeMethods(NativeCheckpoint, ['toJSON'])
wrapNativeMethods(NativeSignedAuditChain, ['append', 'appendBatch', 'sync', 'close', 'verify', 'exportJsonl', 'checkpoint'])

/** One audited decision; `verdict` is `permit`, `refuse` or `invalidate`. */
export class AuditEntry extends NativeAuditEntry {
  static override new(
    principalId: string,
    actionName: string,
    verdict: string,
    detail: string,
    options?: AuditEntryOptions | null,
  ): AuditEntry {
    return rebrand(native(() => NativeAuditEntry.new(principalId, actionName, verdict, detail, options)), AuditEntry)
  }
}

/** A signed (length, head hash, time) of a chain; verifying with it detects truncation. */
export class Checkpoint extends NativeCheckpoint {
  static override fromJSON(json: string | Buffer): Checkpoint {
    return rebrand(native(() => NativeCheckpoint.fromJSON(json)), Checkpoint)
  }
}

/** Append-only, signed, hash-linked audit chain (in memory, or a durable JSONL file). */
export class SignedAuditChain extends NativeSignedAuditChain {
  constructor(kp: KavachKeyPair, hybrid = true) {
    super(kp, hybrid)
  }

  /** Open (or create) a durable chain file; existing entries are verified and continued. */
  static override openFile(path: string, kp: KavachKeyPair, opts?: AuditFileOptions | null): SignedAuditChain {
    return rebrand(native(() => NativeSignedAuditChain.openFile(path, kp, opts)), SignedAuditChain)
  }

  /** Verify a JSONL chain (streaming) and return its entry count. */
  static override verifyJsonl(
    blob: Buffer | string,
    bundle: PublicKeyBundle,
    options?: boolean | VerifyJsonlOptions | null,
  ): number {
    return native(() => NativeSignedAuditChain.verifyJsonl(blob, bundle, options))
  }

  override checkpoint(): Checkpoint {
    return rebrand(super.checkpoint(), Checkpoint)
  }
}

export type { AuditEntryOptions, AuditFileOptions, VerifyJsonlOptions }
