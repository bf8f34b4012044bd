// The public Gate: thin factories and methods over the native gate. No gate logic here:
// arguments are shaped, native errors become typed errors, verdicts become exceptions on
// request (check / checkAsync).

import { extname } from 'node:path'

import { noPublicConstructor, stringArgument } from './arguments.js'
import { ActionContext, checkGeneralPath, checkedExtras, contextTypeProblem, ownContext } from './context.js'
import { InternalError, InvalidArgumentError, native, nativeAsync, throwUnlessPermit, toKavachError } from './errors.js'
import { nativeCall, nativeCallAsync } from './native-errors.js'
import { NativeGate, evaluateFast, evaluateSubmit, flushSubmitted } from './native.js'
import {
  BATCH_FAILED,
  BATCH_HEADER,
  BATCH_ID,
  BATCH_KIND,
  BATCH_RAW,
  BATCH_SLOTS,
  BATCH_SLOT_UNITS,
  BATCH_TEXT_LEN,
  FAST_IN_ACTION_LEN,
  FAST_IN_ID_LEN,
  FAST_IN_KIND,
  FAST_IN_MAX_ROLES,
  FAST_IN_PARAMS,
  FAST_IN_PARAM_COUNT,
  FAST_IN_ROLES,
  FAST_IN_ROLE_COUNT,
  FAST_IN_SCRATCH_LEN,
  FAST_IN_STRIDE,
  FAST_IN_TEXT_LEN,
  FAST_OUT_LEN,
  principalKindIndex,
} from './generated/layout.js'
import { fromFast, fromFastAt, fromRaw, type RawVerdict } from './verdict.js'
import { InternedNames } from './interned-names.js'
import type { AnalyzeOptions, EvaluateOptions, Explanation, LiftScope, PolicyFinding, RevokeScope, Verdict } from './native.js'
import { type GateOptions, type PolicySetInput, gateHooks, quotedNames, validateGateOptions } from './options.js'
import { instrument } from './telemetry.js'
import { PolicyWatcher, type WatchOptions } from './watch.js'
import { ownDeepCopy, policyObjectTooLarge } from './own-properties.js'
import { readPolicyFile } from './policy-file.js'
import { checkWellFormed, wellFormedProblem } from './well-formed.js'

/** What `evaluate` accepts: a plain object, or a pre-validated `ActionContext`. */
export type EvaluateInput = EvaluateOptions | ActionContext

function toOptions(ctx: EvaluateInput): EvaluateOptions {
  if (typeof ctx !== 'object' || ctx === null) throw notAnObject('context', '{ principalId, principalKind, actionName, ... }', ctx)
  const o = ctx instanceof ActionContext ? ctx.options : ctx
  return mayInherit(o) ? ownContext(o) : o
}

/**
 * A native error for a context, as thrown to the caller: a wrong JS type becomes an
 * `InvalidArgumentError` naming the field (napi's own conversion message names none and may
 * quote the value).
 */
function contextError(o: EvaluateOptions, e: unknown): unknown {
  let problem: string | undefined
  try {
    problem = contextTypeProblem(o as unknown as Record<string, unknown>)
  } catch {
    // A getter that throws again: the first error stands (and an evaluateAsync still rejects
    // rather than throwing).
    problem = undefined
  }
  return problem === undefined ? toKavachError(e) : new InvalidArgumentError(problem, { cause: e })
}

/**
 * Whether a context could supply fields it does not own: its prototype is not a plain
 * object's, or `Object.prototype` or `Array.prototype` has enumerable properties (prototype
 * pollution elsewhere in the app, e.g. `Object.prototype.roles = ['admin']`, which assignment
 * makes enumerable). Such a context is read through an own-property copy; the common case
 * costs one prototype read and two empty `for...in`. Properties defined non-enumerable on a
 * built-in prototype are not looked for: that takes `Object.defineProperty` run by the
 * attacker, i.e. code that could as well replace `Gate.prototype.evaluate`.
 */
function mayInherit(o: object): boolean {
  const proto: unknown = Object.getPrototypeOf(o)
  if (proto !== Object.prototype && proto !== null) return true
  for (const _ in Object.prototype) return true
  // `Array.prototype[0] = 'admin'` answers for a hole in `roles`.
  for (const _ in Array.prototype) return true
  return false
}

/**
 * `o` with `roles: null` and `params: null` as absent, as `evaluate` reads them: `explain`
 * hands the context over as one object, whose native conversion takes no `null` there.
 */
function nullsAbsent(o: EvaluateOptions): EvaluateOptions {
  const r = o as { roles?: unknown; params?: unknown }
  return r.roles === null || r.params === null ? { ...o, roles: o.roles ?? undefined, params: o.params ?? undefined } : o
}

/**
 * A policy document given as a string: a lone surrogate in it would reach the loader as U+FFFD
 * and match another string (src/well-formed.ts), so it is refused naming its index.
 */
function policyText(where: string, name: string, v: unknown): string {
  const text = stringArgument(where, name, v)
  checkWellFormed(where, name, text)
  return text
}

/**
 * Checks what `lift` and `revoke` need of a scope before the native conversion, which would
 * say "Missing field `targetKind`" without the call: both fields present, and the target id a
 * string that stands for itself (src/well-formed.ts). Other fields are not refused: a verdict's
 * `scope` may be handed back as it is.
 */
function checkScope(call: string, scope: { targetKind?: unknown; targetId?: unknown }): void {
  const missing = (['targetKind', 'targetId'] as const).filter((k) => scope[k] === undefined)
  if (missing.length > 0) throw new InvalidArgumentError(`${call}: scope: missing field(s) ${quotedNames(missing)}`)
  const id = scope.targetId
  const problem = typeof id === 'string' ? wellFormedProblem('targetId', id) : undefined
  if (problem !== undefined) throw new InvalidArgumentError(problem)
}

/** `InvalidArgumentError` for an argument that must be an object (evaluate(null), lift(null)). */
function notAnObject(name: string, shape: string, v: unknown): InvalidArgumentError {
  return new InvalidArgumentError(`${name} must be an object ${shape}, got ${v === null ? 'null' : typeof v}`)
}

/**
 * The action name of the context `encode` last encoded: the verdict names the action as read
 * (a getter is read once). Not sliced out of the text: an interned action is not in it, and
 * slicing a concatenated text would flatten it in a runtime call.
 */
let encodedAction = ''

/**
 * Writes the fast path's input (`FAST_IN_*`, crates/kavach-node/src/layout.rs): the numbers
 * into `s`, and returns the principal id, the action name, the roles and the params' names and
 * string values as one string (lengths in `s`), leaving out the names `names` has interned
 * (their indexes in `s`; for a known vocabulary the text is the principal id itself). Null
 * when the fast path cannot carry the context (unknown kind, a non-string id or action, roles
 * that are not an array of at most `FAST_IN_MAX_ROLES` strings, params that are not a plain
 * record of finite numbers and strings, too many params): the general path then validates it
 * and names the culprit. `for...in` visits what the general path's property-name read visits.
 * The action read is left in `encodedAction` for the verdict.
 */
function encode(o: EvaluateOptions, s: Float64Array, names: InternedNames): string | null {
  const kind = principalKindIndex(o.principalKind)
  const id: unknown = o.principalId
  const action: unknown = o.actionName
  if (kind < 0 || typeof id !== 'string' || typeof action !== 'string') return null
  s[FAST_IN_KIND] = kind
  s[FAST_IN_ID_LEN] = id.length
  let text = id + names.slot(s, FAST_IN_ACTION_LEN, action)
  const roles: unknown = o.roles
  let roleCount = 0
  if (roles !== undefined && roles !== null) {
    if (!Array.isArray(roles)) return null
    roleCount = roles.length
    if (roleCount > FAST_IN_MAX_ROLES) return null
    for (let r = 0; r < roleCount; r++) {
      const role: unknown = roles[r]
      if (typeof role !== 'string') return null
      text += names.slot(s, FAST_IN_ROLES + r, role)
    }
  }
  s[FAST_IN_ROLE_COUNT] = roleCount
  let i = FAST_IN_PARAMS
  const params: unknown = o.params
  if (params !== undefined) {
    // A record only (the general path names anything else): a Map or an array has no
    // enumerable param names to visit, and its values would be silently left out.
    if (typeof params !== 'object' || params === null || Array.isArray(params)) return null
    const proto: unknown = Object.getPrototypeOf(params)
    if (proto !== Object.prototype && proto !== null) return null
    const p = params as Record<string, unknown>
    for (const name in p) {
      if (i === FAST_IN_SCRATCH_LEN) return null
      const v = p[name]
      if (typeof v === 'number') {
        if (v - v !== 0) return null // NaN or ±Infinity
        text += names.slot(s, i, name)
        s[i + 1] = 0
        s[i + 2] = v
      } else if (typeof v === 'string') {
        text += names.slot(s, i, name)
        s[i + 1] = 1
        s[i + 2] = v.length
        text += v
      } else {
        return null
      }
      i += FAST_IN_STRIDE
    }
    // A non-enumerable param, which the loop skips (so would the native key listing): the
    // general path refuses it (`checkGeneralPath`) rather than let a cap on it go unapplied.
    if (Object.getOwnPropertyNames(p).length !== (i - FAST_IN_PARAMS) / FAST_IN_STRIDE) return null
  }
  s[FAST_IN_PARAM_COUNT] = (i - FAST_IN_PARAMS) / FAST_IN_STRIDE
  s[FAST_IN_TEXT_LEN] = text.length
  // Last: a getter on roles or params may run a nested evaluate, which encodes its own action.
  encodedAction = action
  return text
}

/**
 * `evaluateAsync` starts submitted evaluations in groups: at the end of the tick (a microtask),
 * or as soon as this many are waiting. Groups share one Redis call per rate-limit lane
 * (crates/kavach-redis/src/rate_limit/coalesce.rs); starting a group early lets Redis run it
 * while JS is still submitting the next one (two calls per lane may be in flight). Measured
 * with 16 and 64 callers awaiting evaluations in a loop on one key: 4, 6, 8 and
 * 12 gave 163k, 167k, 118k, 112k/s at 16 and 189k, 201k, 236k, 242k/s at 64. Larger groups
 * win when JS is the bottleneck (64) and lose when Redis is (16: with two calls in flight,
 * 16 callers in groups of 8 leave nothing to overlap). A feedback rule that grows groups
 * while replies are already waiting wins at 64 and loses at 16 as well, so the size is fixed
 * at the best compromise. End-of-tick only (no early start) gives about 90k/s at 16.
 */
const START_GROUP_AT = 6

// --- evaluateAsync completions (crates/kavach-node/src/dispatch.rs) ---
// Module-level on purpose: each native gate's completion channel calls `complete`, which holds
// no gate, so a gate nobody references can still be collected (its channel goes with it).

/**
 * Resolvers of pending `evaluateSubmit` calls, by id. Ids are slots, reused once their verdict
 * has been delivered (each id gets exactly one): an array index is cheaper than a Map entry
 * on a path taken once per evaluation.
 */
const resolvers: Array<((v: Verdict) => void) | undefined> = []
/** Their rejecters, same ids: an evaluation that ended without a verdict rejects (`INTERNAL`). */
const rejecters: Array<((e: unknown) => void) | undefined> = []
const freeIds: number[] = []
let pendingCount = 0
/**
 * Keeps the event loop alive while anything is pending (the native completion channels never
 * do, so an idle gate never holds a process open).
 */
let keepAlive: ReturnType<typeof setInterval> | undefined

/**
 * A free id for `evaluateSubmit`, reserved at once; `submitted` or `release` must follow. A new
 * id grows the arrays here, not in `submitted`: the native submit reads the context's extras,
 * and a getter there may submit another evaluation (on any gate), which must get another id.
 */
function takeId(): number {
  const free = freeIds.pop()
  if (free !== undefined) return free
  resolvers.push(undefined)
  rejecters.push(undefined)
  return resolvers.length - 1
}

function release(id: number): void {
  freeIds.push(id)
}

function submitted(id: number, resolve: (v: Verdict) => void, reject: (e: unknown) => void): void {
  resolvers[id] = resolve
  rejecters[id] = reject
  if (++pendingCount === 1) {
    keepAlive ??= setInterval(() => {}, 1 << 30)
    keepAlive.ref()
  }
}

// A completion batch (crates/kavach-node/src/dispatch.rs `Batch`): one string of verdicts,
// each a header of code units then its text; or `[string, raws]` when some verdicts travel
// as raw arrays.
// Offsets `BATCH_*` (src/generated/layout.ts); kind `BATCH_FAILED`: an evaluation that ended
// without a verdict, its text the reason (completion.rs).
/** The current verdict's `fast_out` slots, decoded from its header for `fromFastAt`. */
const slots = new Float64Array(FAST_OUT_LEN)

function u48(t: string, i: number): number {
  return t.charCodeAt(i) + t.charCodeAt(i + 1) * 0x1_0000 + t.charCodeAt(i + 2) * 0x1_0000_0000
}

/** Resolves every verdict of a batch from a native completion channel. */
function complete(batch: string | [text: string, raws: RawVerdict[]]): void {
  const text = typeof batch === 'string' ? batch : batch[0]
  let at = 0
  while (at < text.length) {
    const id = text.charCodeAt(at + BATCH_ID) + text.charCodeAt(at + BATCH_ID + 1) * 0x1_0000
    const kind = text.charCodeAt(at + BATCH_KIND)
    const start = at + BATCH_HEADER
    const end = start + text.charCodeAt(at + BATCH_TEXT_LEN) + text.charCodeAt(at + BATCH_TEXT_LEN + 1) * 0x1_0000
    const resolve = resolvers[id]
    if (resolve !== undefined) {
      const reject = rejecters[id]!
      resolvers[id] = undefined
      rejecters[id] = undefined
      release(id)
      pendingCount--
      if (kind === BATCH_FAILED) {
        reject(new InternalError(text.slice(start, end)))
      } else if (kind === BATCH_RAW) {
        resolve(fromRaw((batch as [string, RawVerdict[]])[1][u48(text, at + BATCH_SLOTS)]!))
      } else {
        // The header carries `fast_out` slots 1-4 after the kind.
        slots[0] = kind
        slots[1] = u48(text, at + BATCH_SLOTS)
        slots[2] = u48(text, at + BATCH_SLOTS + BATCH_SLOT_UNITS)
        slots[3] = u48(text, at + BATCH_SLOTS + 2 * BATCH_SLOT_UNITS)
        slots[4] = u48(text, at + BATCH_SLOTS + 3 * BATCH_SLOT_UNITS)
        resolve(fromFastAt(text, start, end, slots, 0, undefined))
      }
    }
    at = end
  }
  if (pendingCount === 0) keepAlive?.unref()
}

export class Gate {
  /** The native gate (for integrations in this package; not part of the public API). */
  readonly native: NativeGate
  /** Shared with the native gate: fast-path inputs and verdict numbers. */
  readonly #scratch = new Float64Array(FAST_IN_SCRATCH_LEN)
  /** This gate in the native fast path's registry. */
  readonly #handle: number
  /** Names sent to the native side once, then by index (src/interned-names.ts). */
  readonly #names: InternedNames
  /** In-process gate without signer or audit: `evaluateAsync` answers from the sync path. */
  readonly #inline: boolean
  /**
   * Set while the scratch array holds this gate's current fast-path input or output: a getter
   * of that context which evaluates on this gate again (while `encode` reads it, or while the
   * native side reads its extras) takes the general path, so it cannot overwrite numbers the
   * outer call has written and is about to use.
   */
  #busy = false
  /** Whether the native completion channel exists (attached on first use, dropped by close). */
  #attached = false
  /** Whether a microtask will call `flushSubmitted` (one per tick, see evaluateAsync). */
  #flushQueued = false
  /** Evaluations submitted since the last `flushSubmitted` (see `START_GROUP_AT`). */
  #unflushed = 0
  readonly #flush = (): void => {
    this.#flushQueued = false
    this.#unflushed = 0
    flushSubmitted(this.#handle)
  }

  private constructor(nativeGate: NativeGate, options?: GateOptions) {
    if (!(nativeGate instanceof NativeGate)) {
      noPublicConstructor('Gate', 'Gate.fromObject, Gate.fromToml, Gate.fromJsonString, Gate.fromJsonFile or Gate.fromFile')
    }
    this.native = nativeGate
    this.#handle = nativeGate.attachScratch(this.#scratch)
    this.#names = new InternedNames(this.#handle)
    this.#inline = nativeGate.inlineAsync
    // `telemetry` / `onVerdict` wrap this instance's evaluate methods (src/telemetry.ts, which
    // loads @opentelemetry/api only then); without them the plain prototype methods run.
    const hooks = gateHooks(options)
    if (hooks !== undefined) instrument(this, hooks)
  }

  /** A gate from a plain object: `{ policies: [...] }` (alias `policy`). Recommended. */
  static fromObject(policies: PolicySetInput, options?: GateOptions): Gate {
    const opts = validateGateOptions(options)
    // Own properties only (src/own-properties.ts): an inherited `effect` or `policies` never loads.
    return new Gate(native(() => NativeGate.fromObject(ownDeepCopy(policies, policyObjectTooLarge), opts)), opts)
  }

  /** Alias of `fromObject` (the Python SDK's `Gate.from_dict`). */
  static fromDict(policies: PolicySetInput, options?: GateOptions): Gate {
    return Gate.fromObject(policies, options)
  }

  static fromJsonString(json: string, options?: GateOptions): Gate {
    const opts = validateGateOptions(options)
    const text = policyText('Gate.fromJsonString', 'json', json)
    return new Gate(native(() => NativeGate.fromJson(text, opts)), opts)
  }

  static fromJsonFile(path: string, options?: GateOptions): Gate {
    return Gate.fromJsonString(readPolicyFile('Gate.fromJsonFile', path), options)
  }

  static fromToml(toml: string, options?: GateOptions): Gate {
    const opts = validateGateOptions(options)
    const text = policyText('Gate.fromToml', 'toml', toml)
    return new Gate(native(() => NativeGate.fromToml(text, opts)), opts)
  }

  /** A gate from a policy file: TOML, or JSON when the file name ends in `.json`. */
  static fromFile(path: string, options?: GateOptions): Gate {
    const text = readPolicyFile('Gate.fromFile', path)
    return extname(path).toLowerCase() === '.json' ? Gate.fromJsonString(text, options) : Gate.fromToml(text, options)
  }

  /** Synchronous evaluation (in-process stores only). A Refuse is a returned verdict. */
  evaluate(ctx: EvaluateInput): Verdict {
    const o = toOptions(ctx)
    const ex = checkedExtras(o)
    if (this.#busy) return this.#evaluateRaw(o, ex)
    this.#busy = true
    try {
      const s = this.#scratch
      const text = encode(o, s, this.#names)
      if (text === null) return this.#evaluateRaw(o, ex)
      try {
        // Taken before the call: reading the extras there may run getters, even a nested evaluate.
        const action = encodedAction
        // Without extras the native side needs no look at a third argument.
        const r = ex === undefined ? evaluateFast(this.#handle, text) : evaluateFast(this.#handle, text, ex)
        return typeof r === 'string' ? fromFast(r, s, action) : fromRaw(r)
      } catch (e) {
        throw contextError(o, e)
      }
    } finally {
      this.#busy = false
    }
  }

  /** `evaluate` through the general native path (contexts the fast path cannot carry). */
  #evaluateRaw(o: EvaluateOptions, ex: EvaluateOptions | undefined): Verdict {
    checkGeneralPath(o)
    try {
      return fromRaw(this.native.evaluateRaw(o.principalId, o.principalKind, o.actionName, o.roles, o.params, ex))
    } catch (e) {
      throw contextError(o, e)
    }
  }

  /** The same evaluation as a Promise; works with any store and never blocks the event loop. */
  evaluateAsync(ctx: EvaluateInput): Promise<Verdict> {
    // In-process only: microseconds of CPU, cheaper than any trip through a thread pool.
    if (this.#inline) {
      try {
        return Promise.resolve(this.evaluate(ctx))
      } catch (e) {
        return Promise.reject(e)
      }
    }
    let o: EvaluateOptions | undefined
    try {
      o = toOptions(ctx)
      const ex = checkedExtras(o)
      if (!this.#busy) {
        this.#busy = true
        try {
          const text = encode(o, this.#scratch, this.#names)
          if (text !== null) return this.#submit(text, ex)
        } finally {
          this.#busy = false
        }
      }
      checkGeneralPath(o)
      const opts = o
      return nativeAsync(async () =>
        fromRaw(await this.native.evaluateRawAsync(opts.principalId, opts.principalKind, opts.actionName, opts.roles, opts.params, ex)),
      ).catch((e: unknown) => {
        throw contextError(opts, e)
      })
    } catch (e) {
      return Promise.reject(o === undefined ? toKavachError(e) : contextError(o, e))
    }
  }

  /** Queues the evaluation `encode` wrote into the scratch array (see `START_GROUP_AT`). */
  #submit(text: string, ex: EvaluateOptions | undefined): Promise<Verdict> {
    if (!this.#attached) {
      this.native.attachCompletion(complete)
      this.#attached = true
    }
    const id = takeId()
    let refused: RawVerdict | null
    try {
      refused = evaluateSubmit(this.#handle, id, text, ex)
    } catch (e) {
      release(id)
      throw e
    }
    if (refused !== null) {
      // `maxPendingEvaluations` in flight: the gate answered at once and queued nothing.
      release(id)
      return Promise.resolve(fromRaw(refused))
    }
    // Registered before any flush: a flush may deliver verdicts at once (ours included, if
    // its Redis reply is already in).
    const verdict = new Promise<Verdict>((resolve, reject) => {
      submitted(id, resolve, reject)
    })
    if (++this.#unflushed >= START_GROUP_AT) {
      this.#unflushed = 0
      flushSubmitted(this.#handle)
    } else if (!this.#flushQueued) {
      // The rest of this tick's evaluations start together, in one Redis call.
      this.#flushQueued = true
      queueMicrotask(this.#flush)
    }
    return verdict
  }

  /**
   * The evaluation of `ctx` step by step (each policy's conditions with the values compared,
   * drift, invariants, the decisive step marked) and the verdict `evaluate` would return for
   * the same state. Changes no state: no rate-limit hit is counted, no session is created or
   * counted, nothing is signed, audited or revoked. The trace comes from the Rust core.
   */
  explain(ctx: EvaluateInput): Explanation {
    const o = toOptions(ctx)
    checkedExtras(o)
    checkGeneralPath(o)
    try {
      return this.native.explain(nullsAbsent(o))
    } catch (e) {
      throw contextError(o, e)
    }
  }

  /**
   * `explain` as a Promise, for any gate: with Redis stores the rate-limit windows and the
   * session are read from Redis (the counts `evaluate` would see), nothing is counted or
   * created. `explain` on such a gate throws `SYNC_NOT_SUPPORTED`.
   */
  async explainAsync(ctx: EvaluateInput): Promise<Explanation> {
    // The same checks as `explain`, as a rejection.
    const o = toOptions(ctx)
    checkedExtras(o)
    checkGeneralPath(o)
    try {
      return await this.native.explainAsync(nullsAbsent(o))
    } catch (e) {
      throw contextError(o, e)
    }
  }

  /**
   * Static analysis of the live policy set (from the Rust core): policies shadowed by an
   * earlier one or that can never match, refuse policies that never fire, `param_min` above
   * `param_max`, time windows that never open, rate limits that never bind, permit/refuse
   * overlaps, deny lists, and (given `knownActions`) actions no policy names.
   */
  analyze(options?: AnalyzeOptions): PolicyFinding[] {
    return nativeCall('gate.analyze', [options], () => this.native.analyze(options), ['options'])
  }

  /**
   * Reloads this gate's policy set whenever the file changes (TOML, or JSON by extension).
   * A file that does not load keeps the previous set and emits `error`; a good one emits
   * `reload` with the policy count. `close()` the watcher to stop (it holds nothing else open).
   */
  watch(path: string, options?: WatchOptions): PolicyWatcher {
    return new PolicyWatcher(this, path, options)
  }

  /**
   * `evaluateAsync`, `explainAsync` and `revoke` calls in flight on this gate (started, not
   * yet settled); at most the `maxPendingEvaluations` option. An in-process gate without
   * signer or audit answers `evaluateAsync` at once, which then counts nothing.
   */
  get pendingEvaluations(): number {
    return this.native.pendingEvaluations
  }

  /** Policies in the live set. */
  get policyCount(): number {
    return this.native.policyCount
  }

  /**
   * Whether a condition of the live policy set (`param_max`, `param_min`, `param_in`) or an
   * invariant reads the param `name`. The integrations ask it about an input field they cannot
   * forward (a boolean, an array, `null`, `Infinity`) and refuse the call when the answer is
   * yes, instead of letting that rule judge the call as if the field were absent.
   */
  readsParam(name: string): boolean {
    const text = stringArgument('gate.readsParam', 'name', name)
    return native(() => this.native.firstReadParam([text])) != null
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
    const text = policyText('gate.reload', 'toml', toml)
    native(() => this.native.reload(text))
  }

  reloadObject(policies: PolicySetInput): void {
    native(() => this.native.reloadObject(ownDeepCopy(policies, policyObjectTooLarge)))
  }

  reloadJson(json: string): void {
    const text = policyText('gate.reloadJson', 'json', json)
    native(() => this.native.reloadJson(text))
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
    if (typeof scope !== 'object' || scope === null) throw notAnObject('lift scope', '{ targetKind, targetId }', scope)
    checkScope('gate.lift', scope)
    nativeCall('gate.lift', [scope], () => this.native.lift(scope), ['scope'])
  }

  /**
   * Revoke a session, principal or role on this gate as an Invalidate verdict would: later
   * evaluations refuse it (`SESSION_INVALID`) until `lift` or `invalidationTtlSeconds`, a
   * session is also marked in the gate's session store, and the gate's broadcaster (if any)
   * tells the other gates. `reason` defaults to `revoked by the application`, `evaluator` to
   * `manual`. With `maxPendingEvaluations` calls in flight only this gate's part is done and
   * the promise rejects with `StoreUnavailableError` saying so (docs/SECURITY.md).
   */
  revoke(scope: RevokeScope): Promise<void> {
    if (typeof scope !== 'object' || scope === null) {
      return Promise.reject(notAnObject('revoke scope', '{ targetKind, targetId, reason? }', scope))
    }
    try {
      checkScope('gate.revoke', scope)
    } catch (e) {
      return Promise.reject(e)
    }
    return nativeCallAsync('gate.revoke', [scope], () => this.native.revoke(scope), ['scope'])
  }

  /** Releases store connections and listeners. */
  close(): Promise<void> {
    // The native side drops its completion channel (evaluations in flight still resolve);
    // a later evaluateAsync attaches a new one. Evaluations submitted in this tick start
    // first, as they would have without the close.
    flushSubmitted(this.#handle)
    this.#attached = false
    return nativeAsync(() => this.native.close())
  }

  /** Testing only: move the clock of a gate built with `testClock: { nowMs }`. */
  setTestNow(ms: number): void {
    nativeCall('gate.setTestNow', [ms], () => this.native.setTestNow(ms), ['ms'])
  }
}
