// The public Gate: thin factories and methods over the native gate. No gate logic here:
// arguments are shaped, native errors become typed errors, verdicts become exceptions on
// request (check / checkAsync).

import { readFileSync } from 'node:fs'
import { extname } from 'node:path'

import { ActionContext } from './context.js'
import { IoError, native, nativeAsync, throwUnlessPermit, toKavachError } from './errors.js'
import { NativeGate } from './native.js'
import { fromRaw } from './verdict.js'
import type { EvaluateOptions, LiftScope, Verdict } from './native.js'
import { type GateOptions, type PolicySetInput, validateGateOptions } from './options.js'

/** What `evaluate` accepts: a plain object, or a pre-validated `ActionContext`. */
export type EvaluateInput = EvaluateOptions | ActionContext

function toOptions(ctx: EvaluateInput): EvaluateOptions {
  return ctx instanceof ActionContext ? ctx.options : ctx
}

/**
 * The context's optional fields other than roles and params, or undefined when none is set:
 * the native side then reads no absent property (each property read is an N-API call, the
 * dominant cost of a microsecond evaluation). Plain JS property reads here are JIT-cheap.
 */
function extras(o: EvaluateOptions): EvaluateOptions | undefined {
  return o.resource !== undefined ||
    o.sessionId !== undefined ||
    o.ip !== undefined ||
    o.originIp !== undefined ||
    o.currentGeo !== undefined ||
    o.originGeo !== undefined ||
    o.device !== undefined ||
    o.originDevice !== undefined ||
    o.sessionStartedAt !== undefined ||
    o.actionCount !== undefined
    ? o
    : undefined
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8')
  } catch (e) {
    throw new IoError(`cannot read policy file '${path}': ${(e as Error).message}`, { cause: e })
  }
}

export class Gate {
  /** The native gate (for integrations in this package; not part of the public API). */
  readonly native: NativeGate

  private constructor(nativeGate: NativeGate) {
    this.native = nativeGate
  }

  /** A gate from a plain object: `{ policies: [...] }` (alias `policy`). Recommended. */
  static fromObject(policies: PolicySetInput, options?: GateOptions): Gate {
    const opts = validateGateOptions(options)
    return new Gate(native(() => NativeGate.fromObject(policies, opts)))
  }

  /** Alias of `fromObject` (the Python SDK's `Gate.from_dict`). */
  static fromDict(policies: PolicySetInput, options?: GateOptions): Gate {
    return Gate.fromObject(policies, options)
  }

  static fromJsonString(json: string, options?: GateOptions): Gate {
    const opts = validateGateOptions(options)
    return new Gate(native(() => NativeGate.fromJson(json, opts)))
  }

  static fromJsonFile(path: string, options?: GateOptions): Gate {
    return Gate.fromJsonString(readText(path), options)
  }

  static fromToml(toml: string, options?: GateOptions): Gate {
    const opts = validateGateOptions(options)
    return new Gate(native(() => NativeGate.fromToml(toml, opts)))
  }

  /** A gate from a policy file: TOML, or JSON when the file name ends in `.json`. */
  static fromFile(path: string, options?: GateOptions): Gate {
    const text = readText(path)
    return extname(path).toLowerCase() === '.json' ? Gate.fromJsonString(text, options) : Gate.fromToml(text, options)
  }

  /** Synchronous evaluation (in-process stores only). A Refuse is a returned verdict. */
  evaluate(ctx: EvaluateInput): Verdict {
    const o = toOptions(ctx)
    try {
      return fromRaw(this.native.evaluateRaw(o.principalId, o.principalKind, o.actionName, o.roles, o.params, extras(o)))
    } catch (e) {
      throw toKavachError(e)
    }
  }

  /** The same evaluation as a Promise; works with any store and never blocks the event loop. */
  evaluateAsync(ctx: EvaluateInput): Promise<Verdict> {
    return nativeAsync(async () => {
      const o = toOptions(ctx)
      return fromRaw(await this.native.evaluateRawAsync(o.principalId, o.principalKind, o.actionName, o.roles, o.params, extras(o)))
    })
  }

  /** Throws `Refused` / `Invalidated` unless the gate permits. */
  check(ctx: EvaluateInput): void {
    throwUnlessPermit(this.evaluate(ctx))
  }

  async checkAsync(ctx: EvaluateInput): Promise<void> {
    throwUnlessPermit(await this.evaluateAsync(ctx))
  }

  /** Swap in a TOML policy set; on error this throws and the previous set stays live. */
  reload(toml: string): void {
    native(() => this.native.reload(toml))
  }

  reloadObject(policies: PolicySetInput): void {
    native(() => this.native.reloadObject(policies))
  }

  reloadJson(json: string): void {
    native(() => this.native.reloadJson(json))
  }

  /** policy + drift (unless disabled) + invariants (if any). */
  get evaluatorCount(): number {
    return this.native.evaluatorCount
  }

  /** False when a store does network I/O (use `evaluateAsync` / `checkAsync`). */
  get supportsSync(): boolean {
    return this.native.supportsSync
  }

  /** Undo a principal/role (or session) revocation on this gate. */
  lift(scope: LiftScope): void {
    native(() => this.native.lift(scope))
  }

  /** Releases store connections and listeners. */
  close(): Promise<void> {
    return nativeAsync(() => this.native.close())
  }

  /** Testing only: move the clock of a gate built with `testClock: { nowMs }`. */
  setTestNow(ms: number): void {
    native(() => this.native.setTestNow(ms))
  }
}
