// What every integration shares: the params a tool call or request body forwards to the gate,
// and the refusal a model or client reads back. Shaping only: the gate decides, and says which
// params its rules read.

import { isParamValue, paramValueProblem } from '../context.js'
import { excerpt, Invalidated, kindOf, native, Refused } from '../errors.js'
import type { Gate } from '../gate.js'
import type { Verdict } from '../native.js'
import { setOwn } from '../own-properties.js'
import type { RefuseCode } from '../verdict.js'
import { splitTarget } from './http-route.js'


/** A call's input as the integration hands it over: where it came from, and whether it was read at all. */
export interface CallInput {
  /** The action the call is judged as. */
  action: string
  /** `the request body`, `the input of 'refund'`: how a refusal names it. */
  subject: string
  value: unknown
  /** Set when the input has content that was not parsed when the gate ran: how a refusal says so. */
  unparsed?: string
}

/** A tool call's input (MCP, AI SDK, OpenAI Agents): the action is the tool's name. */
export function toolInput(tool: string, value: unknown): CallInput {
  return { action: tool, subject: `the input of '${excerpt(tool)}'`, value }
}

/**
 * Field names that reach an object's prototype when the input is copied (`Object.assign({},
 * body)` makes `body.__proto__` the copy's prototype): a field holding an object there hides
 * its fields from the gate and hands them to the handler.
 */
const PROTOTYPE_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype'])

/**
 * The params a tool input or request body forwards to `gate`: its top-level number and string
 * fields (the gate's params are scalars). A field of any other kind (a boolean, an array, an
 * object, `null`, `NaN`, `Infinity`) is left out, unless a condition or invariant of the gate
 * reads a param of that name (`gate.readsParam`): then the call is refused, since that rule
 * would judge it as if the field were absent while the tool or handler still receives it
 * (`{"amount": [5000]}` past an invariant capping `amount`). `undefined` is an absent field.
 * Each field is read once.
 *
 * An input with content but no fields to read (not parsed yet, text, an array, raw bytes, a
 * Map or Set, a number) gives no params; it is refused when the gate has an invariant or a refuse policy for
 * the action with a param condition (`refusalReadsParams`), which judged without params would
 * not refuse. An absent input (`undefined`, `null`, empty) gives no params and is judged so.
 * An input with an own `__proto__`, `constructor` or `prototype` field holding an object is
 * refused (`PROTOTYPE_KEYS`).
 */
export function forwardedParams(gate: Gate, input: CallInput): { params: Record<string, number | string> } | { refusal: string } {
  const params: Record<string, number | string> = {}
  const value = input.value
  const fieldless = input.unparsed ?? fieldlessContent(value)
  if (fieldless !== undefined) {
    if (!native(() => gate.native.refusalReadsParams(input.action))) return { params }
    return { refusal: `${input.subject} ${fieldless}, and an invariant or a refuse policy that can apply to '${excerpt(input.action)}' reads params` }
  }
  if (typeof value !== 'object' || value === null) return { params }
  const left: string[] = []
  const leftValues: unknown[] = []
  for (const [name, v] of Object.entries(value)) {
    if (PROTOTYPE_KEYS.has(name) && ((typeof v === 'object' && v !== null) || typeof v === 'function')) {
      return { refusal: `${input.subject} has an own '${name}' field holding an object: copied by the handler (Object.assign, a merge) it can supply fields that the gate does not see` }
    }
    if (isParamValue(v)) setOwn(params, name, v)
    else if (v !== undefined) {
      left.push(name)
      leftValues.push(v)
    }
  }
  const at = firstRead(gate, left)
  if (at === undefined) return { params }
  return { refusal: `${paramValueProblem(left[at]!, leftValues[at])}, and a policy or invariant of this gate reads it` }
}

/**
 * Why a request target's query string cannot pass, or undefined: it has a field a condition or
 * invariant reads. The gate reads params from the body only, so a handler that took `amount`
 * from `?amount=5000` would get past a cap on `amount`. The query is everything after the first
 * `?` or `#` (fastify reads a query after `#` too; fastify.ts turns a `;` it reads as one into
 * `?`). Names as query parsers read them: percent-decoded, and with qs (express's 'extended'
 * parser, or as fastify's `querystringParser`) `amount[]`, `amount[x]`, `[amount]`, `amount.x`
 * and `.amount` also as `amount` (`queryNames`).
 */
export function queryStringProblem(gate: Gate, target: string): string | undefined {
  const { query } = splitTarget(target)
  if (query === '') return undefined
  const names = new Set<string>()
  for (const key of new URLSearchParams(query.slice(1).replace(/[?#]/g, '&')).keys()) {
    for (const name of queryNames(key)) names.add(name)
  }
  const list = [...names]
  const at = firstRead(gate, list)
  if (at === undefined) return undefined
  return `param '${excerpt(list[at]!)}' came in the query string, which the gate does not read (it reads the body), and a policy or invariant of this gate reads it`
}

/** A qs key part in brackets: `[amount]`. */
const QS_BRACKETS = /\[[^[\]]*\]/

/** The top-level field qs makes of `key`: the text before the first bracket pair, or inside it when none comes before. */
function qsTopLevel(key: string): string {
  const m = QS_BRACKETS.exec(key)
  if (m === null) return key
  return m.index > 0 ? key.slice(0, m.index) : m[0].slice(1, -1)
}

/**
 * The top-level fields a query parser can make of a decoded `key`: the key itself (plain
 * parsers), what qs makes of it with and without `allowDots` (which reads `a.b` as `a[b]`), and
 * the text before the first `[` or `.`.
 */
function queryNames(key: string): string[] {
  const head = /^[^[.]*/.exec(key)![0]
  const names = [key, qsTopLevel(key), qsTopLevel(key.replace(/\.([^.[]+)/g, '[$1]'))]
  if (head !== '') names.push(head)
  return names
}

/**
 * The position of the first of `names` a condition or invariant of `gate` reads. One native
 * call for all of them: a body of 100,000 booleans asks once, not 100,000 times.
 */
function firstRead(gate: Gate, names: string[]): number | undefined {
  if (names.length === 0) return undefined
  const at = native(() => gate.native.firstReadParam(names))
  if (at == null) return undefined
  return at < names.length ? at : 0
}

/**
 * How a refusal goes on after "the request body" for an input with content but no fields the
 * gate can read, or undefined: a record, or nothing at all. Raw bytes are not read as a record
 * of their indices.
 */
function fieldlessContent(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined
  if (typeof v === 'string') return v === '' ? undefined : 'is text, whose fields the gate cannot read'
  if (Array.isArray(v)) return v.length === 0 ? undefined : 'is an array, whose fields the gate cannot read'
  if (v instanceof ArrayBuffer || ArrayBuffer.isView(v)) return v.byteLength === 0 ? undefined : 'is raw bytes, whose fields the gate cannot read'
  // Their entries are no properties: read as a record, a Map would give no params.
  if (v instanceof Map || v instanceof Set) return v.size === 0 ? undefined : `is a ${v instanceof Map ? 'Map' : 'Set'}, whose fields the gate cannot read`
  if (typeof v !== 'object') return `is a ${typeof v}, whose fields the gate cannot read`
  return undefined
}

/** What a model (or an HTTP client) reads when the gate refuses: code and reason. */
export interface ToolRefusal {
  refused: true
  code: RefuseCode
  reason: string
}

/**
 * Codes whose reason describes the call or the policy, which a model or client may read. Any
 * other code (a store or the audit log failing, permit signing, a code added later) gets a
 * generic reason: the full one can name hosts, drivers or keys, and stays server-side (the
 * gate's `onVerdict`, an integration's `onRefusal`).
 */
export const READABLE_REASON_CODES: ReadonlySet<RefuseCode> = new Set<RefuseCode>([
  'NO_POLICY_MATCH',
  'POLICY_DENIED',
  'RATE_LIMIT_EXCEEDED',
  'INVARIANT_VIOLATION',
  'DRIFT_DETECTED',
  'SESSION_INVALID',
  'INVALID_CONTEXT',
])

/** Who reads a generic reason: a model (a tool call) or an HTTP client (a request). */
export type ReasonReader = 'model' | 'client'

/** The generic reasons for the codes `READABLE_REASON_CODES` leaves out, by reader. */
const GENERIC_REASONS: Partial<Record<RefuseCode, Record<ReasonReader, string>>> = {
  STORE_UNAVAILABLE: {
    model: 'a store the gate depends on is unavailable',
    client: 'a store the gate depends on is unavailable (failing closed)',
  },
  AUDIT_FAILED: {
    model: 'the call could not be recorded in the audit log',
    client: 'the audit record could not be written (failing closed)',
  },
  IDENTITY_FAILED: {
    model: 'the gate could not sign or verify identity for this call',
    client: 'the caller could not be identified',
  },
}

/** For a code without a generic reason of its own (a code added later, say). */
const FALLBACK_REASONS: Record<ReasonReader, string> = {
  model: 'the gate could not evaluate this call',
  client: 'refused',
}

/** What a model is told did not happen when a call is refused: by default, a tool call's. */
export const TOOL_NOT_RUN = 'the tool did not run'

/**
 * What `reader` reads for a refusal with `code` instead of the gate's reason (not a policy
 * outcome). A model is also told what did not happen (`notDone`: the tool did not run, the
 * resource was not read).
 */
export function genericReason(code: RefuseCode, reader: ReasonReader, notDone: string = TOOL_NOT_RUN): string {
  const reason = GENERIC_REASONS[code]?.[reader] ?? FALLBACK_REASONS[reader]
  return reader === 'model' ? `${reason}; ${notDone}` : reason
}

/**
 * Whether `v`'s reason can quote where the session came from: drift's reasons name the
 * session's origin (`ip changed from '203.0.113.7' to ...`, its country, its device), which a
 * caller replaying a stolen session must not read. So do a drift Invalidate (evaluator
 * `drift`, or a scope drift issued) and the refusals of a session revoked since (evaluator
 * `gate`, code `SESSION_INVALID`): their reason repeats the revocation's, and a session store
 * shared by gates keeps no record of who revoked it.
 */
export function quotesSessionOrigin(v: Verdict): boolean {
  return v.evaluator === 'drift' || v.scope?.evaluator === 'drift' || (v.code === 'SESSION_INVALID' && v.evaluator === 'gate')
}

/** What a model or client reads for a verdict whose reason can quote the session's origin. */
export function sessionOriginReason(v: Verdict): string {
  if (v.isInvalidate) return 'the session was invalidated: the call does not match its context (ip, place or device)'
  if (v.code === 'SESSION_INVALID') return 'the session was invalidated'
  return 'the call does not match the context of its session (ip, place or device)'
}

/**
 * The reason a model reads for `v`: the gate's for a policy outcome, a generic line for other
 * codes and for reasons that can quote the session's origin (`quotesSessionOrigin`).
 */
export function modelReason(v: Verdict, notDone: string = TOOL_NOT_RUN): string {
  if (quotesSessionOrigin(v)) return sessionOriginReason(v)
  if (v.isInvalidate || v.code === undefined || READABLE_REASON_CODES.has(v.code)) return v.reason ?? 'refused'
  return genericReason(v.code, 'model', notDone)
}

/** The refusal a model reads for a non-permit verdict (reason as `modelReason` gives it). */
export function refusalOf(v: Verdict, notDone: string = TOOL_NOT_RUN): ToolRefusal {
  return { refused: true, code: v.code ?? 'NO_POLICY_MATCH', reason: modelReason(v, notDone) }
}

/** One line a model can read: `kavach refused '<action>': <CODE>: <reason>`. */
export function refusalText(action: string, v: Verdict, notDone: string = TOOL_NOT_RUN): string {
  const r = refusalOf(v, notDone)
  return `kavach refused '${action}': ${r.code}: ${r.reason}`
}

/**
 * Throws the reason of `signal` (an `AbortSignal` an agent SDK hands a tool call) if it has
 * fired: the SDK has given up on the call (a timeout, a cancelled run), so a tool gated meanwhile
 * must not start. Rejecting with the signal's reason is how the SDKs recognise an aborted call.
 * A signal-like object that fired without a reason throws an `AbortError`.
 */
export function throwIfAborted(signal: unknown): void {
  if (typeof signal !== 'object' || signal === null) return
  const s = signal as { aborted?: unknown; reason?: unknown }
  if (s.aborted !== true) return
  throw s.reason ?? new DOMException('This operation was aborted', 'AbortError')
}

/**
 * Throws `Refused` / `Invalidated` unless `v` is a Permit, its message carrying the reason a
 * model may read (an agent SDK hands the model the error's message); the full verdict stays
 * on the error's `verdict`.
 */
export function throwForModel(v: Verdict): void {
  if (v.isPermit) return
  const reason = modelReason(v)
  if (v.isInvalidate) throw new Invalidated(v.evaluator ?? 'gate', reason, v.scope, v)
  throw new Refused(v.code ?? 'NO_POLICY_MATCH', v.evaluator ?? 'gate', reason, v)
}
