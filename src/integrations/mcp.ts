// MCP middleware with the earlier Node SDK's names: evaluate, check or guard a tool call, and
// revoke sessions in a session store that every call consults before the gate runs.

import type { EvaluateOptions, PrincipalKind } from '../context.js'
import { gateArgument, optionalObjectArgument, stringArgument } from '../arguments.js'
import { InvalidArgumentError, InvalidContextError, InvalidOptionsError, thrownText } from '../errors.js'
import type { Gate } from '../gate.js'
import type { InvalidationBroadcaster } from '../invalidation.js'
import type { Verdict } from '../native.js'
import { type FieldChecks, checkedOptions, enumerableNames, inheritedFields, instance, quotedNames } from '../options.js'
import type { RedisSessionStore } from '../redis.js'
import { forwardedParams, throwForModel, toolInput } from './refusal.js'
import { contextFacts, refuseUnevaluated, revokedSessionUnevaluated } from './unevaluated.js'
import { InMemorySessionStore, RevocationReadError, revocationReader, type RevocationReader, type SessionStore } from './session-store.js'

/** Who calls a tool (the earlier SDK's field names; the rest are the gate context's). */
export interface McpCaller {
  callerId: string
  /** @default 'agent' */
  callerKind?: PrincipalKind
  roles?: string[]
  sessionId?: string
  ip?: string
  currentGeo?: EvaluateOptions['currentGeo']
  originGeo?: EvaluateOptions['originGeo']
  originIp?: string
  device?: EvaluateOptions['device']
  originDevice?: EvaluateOptions['originDevice']
  /** Unix seconds. */
  sessionStartedAt?: number
  resource?: string
}

export interface McpMiddlewareOptions {
  /** Revoked sessions: any `SessionStore`, or a `RedisSessionStore` shared by replicas. @default new InMemorySessionStore() */
  sessionStore?: SessionStore | RedisSessionStore
  /** `invalidateSession` also publishes the session scope here, so gates subscribed to it revoke it. */
  broadcaster?: InvalidationBroadcaster
}

/** The evaluator named by refusals that come from the session store, not the gate. */
const STORE_EVALUATOR = 'session_store'
/** The evaluator named by refusals of a tool input the gate cannot be given (`forwardedParams`). */
const INPUT_EVALUATOR = 'mcp'

const CALLER_FIELDS = [
  'roles',
  'sessionId',
  'ip',
  'currentGeo',
  'originGeo',
  'originIp',
  'device',
  'originDevice',
  'sessionStartedAt',
  'resource',
] as const satisfies readonly (keyof McpCaller & keyof EvaluateOptions)[]

/** Every name a caller may carry. */
const CALLER_NAMES: readonly string[] = ['callerId', 'callerKind', ...CALLER_FIELDS] satisfies readonly (keyof McpCaller)[]

/** The middleware's options and their checks (`gateMcpServer` adds its own to these). */
export const MIDDLEWARE_OPTION_CHECKS: FieldChecks<McpMiddlewareOptions>['checks'] = {
  sessionStore: instance('SessionStore or RedisSessionStore'),
  broadcaster: instance('InMemoryInvalidationBroadcaster or RedisInvalidationBroadcaster'),
}

/** Read through the options' prototypes too: a shared store given as a default is the store. */
const OPTIONS: FieldChecks<McpMiddlewareOptions> = {
  what: 'McpKavachMiddleware options',
  noun: 'option',
  inherited: true,
  checks: MIDDLEWARE_OPTION_CHECKS,
  error: InvalidOptionsError,
}

/**
 * Throws `InvalidContextError` (`INVALID_CONTEXT`, as the gate answers an unknown context key)
 * naming the keys of `caller` that are no caller field: a typo such as `session_id` would
 * otherwise be dropped, and the session store never asked. Inherited keys count
 * (`gateMcpServer` hands a resource read's caller on as a prototype), but none of
 * `Object.prototype`'s: a key polluting it would otherwise refuse every call.
 */
function checkCallerKeys(caller: object): void {
  const unknown = enumerableNames(caller).filter((key) => !CALLER_NAMES.includes(key))
  if (unknown.length > 0) {
    throw new InvalidContextError(`caller: unknown key(s) ${quotedNames(unknown)} (expected one of ${CALLER_NAMES.join(', ')})`)
  }
}

/**
 * The gate context of one tool call, without its params (`forwardedParams` reads them from the
 * input). Throws `InvalidArgumentError` for a caller without an id or with a session id that
 * is not a string, and `InvalidContextError` for a caller with a key that is no caller field.
 * Each field is read once, through the caller's prototypes but never from `Object.prototype`
 * (a polluted `Object.prototype.roles` grants no role).
 */
export function toolCallContext(toolName: string, caller: McpCaller): EvaluateOptions {
  if (typeof toolName !== 'string' || toolName.length === 0) throw new InvalidArgumentError('toolName must be a non-empty string')
  if (typeof caller !== 'object' || caller === null) throw new InvalidArgumentError('caller must be an object { callerId, ... }')
  checkCallerKeys(caller)
  const fields = inheritedFields(caller, CALLER_NAMES) as Partial<McpCaller>
  if (typeof fields.callerId !== 'string' || fields.callerId.length === 0) {
    throw new InvalidArgumentError('caller.callerId must be a non-empty string')
  }
  // The session store is asked before the gate sees the context: a session id the gate would
  // reject as an argument is rejected here, before any store lookup.
  if (fields.sessionId !== undefined && typeof fields.sessionId !== 'string') {
    throw new InvalidArgumentError(`caller.sessionId must be a string (got ${fields.sessionId === null ? 'null' : typeof fields.sessionId})`)
  }
  const ctx: EvaluateOptions = {
    principalId: fields.callerId,
    principalKind: fields.callerKind ?? 'agent',
    actionName: toolName,
  }
  const target = ctx as unknown as Record<string, unknown>
  for (const field of CALLER_FIELDS) {
    if (fields[field] !== undefined) target[field] = fields[field]
  }
  return ctx
}

export class McpKavachMiddleware {
  readonly gate: Gate
  readonly #store: RevocationReader
  readonly #broadcaster: InvalidationBroadcaster | undefined

  constructor(gate: Gate, options: McpMiddlewareOptions = {}) {
    this.gate = gateArgument('McpKavachMiddleware', gate)
    options = checkedOptions(OPTIONS, optionalObjectArgument('McpKavachMiddleware', 'options', options)) ?? {}
    this.#store = revocationReader('sessionStore', options.sessionStore ?? new InMemorySessionStore())
    this.#broadcaster = options.broadcaster
  }

  /**
   * The verdict for `caller` calling `toolName` with `params` (its top-level numbers and
   * strings are forwarded; a field of another kind that a policy or invariant reads refuses
   * with `INVALID_CONTEXT`, evaluator `mcp`: `forwardedParams`). A refusal is a verdict, never
   * an exception; a malformed caller rejects with `InvalidArgumentError`, one with a key that
   * is no caller field with `InvalidContextError`. A session revoked in the store is answered here (Invalidate,
   * evaluator `session_store`) without running the gate; a store that fails, or whose answer
   * is anything but a clean "not revoked", refuses (`STORE_UNAVAILABLE`, or `INVALID_CONTEXT`
   * for a session id the gate cannot take) with the detail in the reason.
   */
  async evaluateToolCall(toolName: string, params: unknown, caller: McpCaller): Promise<Verdict> {
    const ctx = toolCallContext(toolName, caller)
    const input = forwardedParams(this.gate, toolInput(toolName, params))
    if ('refusal' in input) return refuseUnevaluated(this.gate, 'INVALID_CONTEXT', INPUT_EVALUATOR, input.refusal, contextFacts(ctx))
    ctx.params = input.params
    const sid = ctx.sessionId
    if (sid !== undefined) {
      let revoked: unknown
      try {
        revoked = await this.#store.isInvalidated(sid)
      } catch (e) {
        if (e instanceof RevocationReadError) return refuseUnevaluated(this.gate, e.code, STORE_EVALUATOR, e.message, contextFacts(ctx))
        const reason = `session store failed for session '${sid}': ${thrownText(e)}`
        return refuseUnevaluated(this.gate, 'STORE_UNAVAILABLE', STORE_EVALUATOR, reason, contextFacts(ctx))
      }
      if (revoked === true) return revokedSessionUnevaluated(this.gate, sid, STORE_EVALUATOR, contextFacts(ctx))
      if (revoked !== false) {
        const reason = `session store answered ${String(revoked)} for session '${sid}', not a boolean`
        return refuseUnevaluated(this.gate, 'STORE_UNAVAILABLE', STORE_EVALUATOR, reason, contextFacts(ctx))
      }
    }
    return this.gate.evaluateAsync(ctx)
  }

  /**
   * `evaluateToolCall`, throwing `Refused` / `Invalidated` unless the gate permits. The error's
   * message is what a model may read (an MCP server hands it to the client): the gate's reason
   * for a policy outcome, a generic one for any other code (a store or the audit log failing,
   * permit signing), as `gateMcpServer` gives it. The full verdict is the error's `verdict`,
   * and goes to the gate's `onVerdict`.
   */
  async checkToolCall(toolName: string, params: unknown, caller: McpCaller): Promise<void> {
    throwForModel(await this.evaluateToolCall(toolName, params, caller))
  }

  /**
   * `handler` gated as `toolName`: it runs only on Permit (else the call rejects with
   * `Refused` / `Invalidated`, as `checkToolCall` throws them). A per-call override is merged
   * over `defaultCaller`.
   */
  guardTool<P, T>(
    toolName: string,
    handler: (params: P) => T | Promise<T>,
    defaultCaller: McpCaller,
  ): (params: P, callerOverride?: Partial<McpCaller>) => Promise<T> {
    return async (params, callerOverride) => {
      await this.checkToolCall(toolName, params, { ...defaultCaller, ...callerOverride })
      return await handler(params)
    }
  }

  /**
   * Revokes `sessionId`: written to the session store (every later call with it is refused
   * before the gate runs, on every replica sharing the store), revoked by the gate itself
   * (`gate.revoke`: direct evaluations refuse it too, and the gate's own session store and
   * broadcaster hear it) and, with a `broadcaster`, published as a session scope so the gates
   * subscribed to it revoke it and listeners hear it.
   */
  async invalidateSession(sessionId: string, reason = 'invalidated by McpKavachMiddleware.invalidateSession'): Promise<void> {
    if (typeof sessionId !== 'string' || sessionId.length === 0) throw new InvalidArgumentError('sessionId must be a non-empty string')
    stringArgument('invalidateSession', 'reason', reason)
    await this.#store.invalidate(sessionId, reason)
    await this.gate.revoke({ targetKind: 'session', targetId: sessionId, reason, evaluator: STORE_EVALUATOR })
    await this.#broadcaster?.publish('session', sessionId, reason, STORE_EVALUATOR)
  }
}
