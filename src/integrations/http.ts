// HTTP middleware core with the earlier Node SDK's names and defaults: which requests are
// gated, the action and resource a request is judged as, and its verdict. The express and
// fastify adapters (express.ts, fastify.ts) answer with it.
//
// The gate must judge the request the framework routes, not its spelling: the path is reduced
// to one canonical form (canonicalPath, http-route.ts) and, when the framework names the route it matched,
// the action comes from that route's pattern, so neither case, percent-encoding, an
// absolute-form target nor a client-chosen parameter value can pick a different action.

import { type EvaluateOptions, type GeoLocationInput, PRINCIPAL_KINDS, type PrincipalKind } from '../context.js'
import { InvalidArgumentError, thrownText } from '../errors.js'
import type { Gate } from '../gate.js'
import type { Verdict } from '../native.js'
import type { RefuseCode } from '../verdict.js'
import { gateArgument, isThenable, optionalObjectArgument, stringArgument } from '../arguments.js'
import { type FieldChecks, arrayOf, boolean, checkedOptions, fn, methodOf, string } from '../options.js'
import { canonicalPath, checkedRequest, judgedAs, routeUnder } from './http-route.js'
import { forwardedParams, genericReason, queryStringProblem, quotesSessionOrigin, READABLE_REASON_CODES, sessionOriginReason } from './refusal.js'
import { identityProblem } from './identified.js'
import { type CallFacts, contextFacts, refuseUnevaluated } from './unevaluated.js'

export { canonicalPath, deriveActionName, judgedAs, type CanonicalPath } from './http-route.js'

export type HttpHeaders = Record<string, string | string[] | undefined>

/** One request as the middleware sees it. */
export interface HttpRequestInfo {
  method: string
  /**
   * The request target as received: a path (`/users/42?x=1`) or an absolute URL
   * (`http://host/users/42`). The query is ignored; the rest is judged in canonical form
   * (`canonicalPath`), and a target that has none is refused.
   */
  path: string
  /**
   * The route pattern the server matched for this request (`/users/:id`), when it knows one.
   * The action is then derived from it, so a parameter's value never picks the action.
   */
  route?: string
  /** True when the server routes paths case-insensitively (express's default). */
  caseInsensitive?: boolean
  headers: HttpHeaders
  /** The parsed body; its top-level numbers and strings become params. */
  body?: unknown
  ip?: string
  currentGeo?: GeoLocationInput
  originGeo?: GeoLocationInput
}

/** Who is calling, as a verified source (session, JWT, mTLS) knows it. */
export interface HttpPrincipal {
  principalId: string
  /** @default 'user' */
  principalKind?: PrincipalKind
  roles?: string[]
  sessionId?: string
  currentGeo?: GeoLocationInput
  originGeo?: GeoLocationInput
  device?: EvaluateOptions['device']
}

/**
 * A request the middleware did not let through, for server-side logs: the verdict with its full
 * reason (the client may get a generic one, see `httpRefusal`) and, when `identify` failed,
 * what it threw.
 */
export interface HttpRefusalEvent {
  verdict: Verdict
  request: HttpRequestInfo
  cause?: unknown
}

export interface HttpMiddlewareOptions {
  /** Only POST, PUT, PATCH, DELETE (and other non-read methods) are gated. @default true */
  gateMutationsOnly?: boolean
  /**
   * Paths that pass ungated, each with everything below it: `/health` excludes `/health` and
   * `/health/deep`, not `/healthcare`. Compared with the canonical path of a request whose
   * target is already in that form (no percent-encoding, no empty or dot segments), and only
   * when the route that serves it lies under the entry too (`shouldGate`): `/health/users/42`
   * served by `/:version/users/:id` is gated, as is a path no route serves.
   * @default ['/health', '/ready', '/metrics']
   */
  excludedPaths?: string[]
  /** The principal's id (missing: `anonymous`). Trusts the client: see `identify`. @default 'x-principal-id' */
  principalHeader?: string
  /** Comma-separated roles. @default 'x-roles' */
  rolesHeader?: string
  /** The principal's kind (missing: `user`). @default 'x-principal-kind' */
  kindHeader?: string
  /** Geo for a request that carries none of its own (not called when it does). */
  geoResolver?: (req: HttpRequestInfo) => { currentGeo?: GeoLocationInput; originGeo?: GeoLocationInput } | undefined
  /**
   * The principal from a verified source, used instead of the headers. Undefined means
   * anonymous. May return a Promise on the async paths (`evaluateAsync`, express, fastify).
   * A throw, a rejection, or anything but a principal object or undefined is refused with
   * `IDENTITY_FAILED`; the client is not told what `identify` threw (`onRefusal` is).
   */
  identify?: (req: HttpRequestInfo) => HttpPrincipal | undefined | Promise<HttpPrincipal | undefined>
  /**
   * Called for every request that is not let through, with the full verdict: the place to log
   * reasons that the client only gets in generic form. An error it throws, or a rejection of the
   * promise it returns, is reported as a process warning (`KAVACH_ON_REFUSE_FAILED`) and
   * changes nothing.
   */
  onRefusal?: (event: HttpRefusalEvent) => void | Promise<void>
}

const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

/**
 * The option names, each with its type. A name outside them throws: a misspelt `identify`
 * would otherwise leave the principal to the headers the client sends. Read through the
 * options' prototypes too (`inherited`): an `identify` method of a class instance is the
 * app's identify, and dropping it would leave the principal to those headers as well.
 */
const OPTIONS: FieldChecks<HttpMiddlewareOptions> = {
  what: 'HttpKavachMiddleware options',
  noun: 'option',
  inherited: true,
  checks: {
    gateMutationsOnly: boolean,
    excludedPaths: arrayOf(string),
    principalHeader: string,
    rolesHeader: string,
    kindHeader: string,
    geoResolver: fn,
    identify: fn,
    onRefusal: fn,
  },
  error: InvalidArgumentError,
}

function header(headers: HttpHeaders, name: string): string | undefined {
  const v = headers[name]
  const first = Array.isArray(v) ? v[0] : v
  return first === undefined || first.trim() === '' ? undefined : first.trim()
}

/** Whether a request carries a body: a non-zero `content-length`, or a `transfer-encoding`. */
function hasContent(headers: HttpHeaders): boolean {
  const length = header(headers, 'content-length')
  return (length !== undefined && length !== '0') || header(headers, 'transfer-encoding') !== undefined
}

/** A body that arrives with the request but is not parsed when the middleware runs. */
const UNPARSED_BODY =
  'was not parsed when the gate ran (gate after the body parser: express.json() before the middleware, fastify preHandler rather than onRequest)'

/** Why `who` (what `identify` returned) is not a principal, or undefined when it is one. */
function principalProblem(who: unknown): string | undefined {
  if (who === undefined) return undefined
  return identityProblem(who, { noun: 'principal', idField: 'principalId', kindField: 'principalKind', expected: 'a principal object, or undefined for anonymous' })
}

/** An `onRefusal` that failed: a process warning; the refusal stands. */
function onRefusalFailed(what: string, e: unknown): void {
  process.emitWarning(`kavach: ${what} (the refusal stands): ${thrownText(e)}`, { code: 'KAVACH_ON_REFUSE_FAILED' })
}

export class HttpKavachMiddleware {
  readonly gate: Gate
  readonly gateMutationsOnly: boolean
  readonly excludedPaths: readonly string[]
  readonly principalHeader: string
  readonly rolesHeader: string
  readonly kindHeader: string
  readonly #geoResolver: HttpMiddlewareOptions['geoResolver']
  readonly #identify: HttpMiddlewareOptions['identify']
  readonly #onRefusal: HttpMiddlewareOptions['onRefusal']

  constructor(gate: Gate, options: HttpMiddlewareOptions = {}) {
    this.gate = gateArgument('HttpKavachMiddleware', gate)
    const given = optionalObjectArgument<HttpMiddlewareOptions>('HttpKavachMiddleware', 'options', options) ?? {}
    options = checkedOptions(OPTIONS, given) ?? {}
    this.gateMutationsOnly = options.gateMutationsOnly ?? true
    this.excludedPaths = [...(options.excludedPaths ?? ['/health', '/ready', '/metrics'])]
    this.principalHeader = (options.principalHeader ?? 'x-principal-id').toLowerCase()
    this.rolesHeader = (options.rolesHeader ?? 'x-roles').toLowerCase()
    this.kindHeader = (options.kindHeader ?? 'x-principal-kind').toLowerCase()
    // Hooks run as methods of the options object, as `options.identify(req)` would.
    this.#geoResolver = options.geoResolver && methodOf(given, options.geoResolver)
    this.#identify = options.identify && methodOf(given, options.identify)
    this.#onRefusal = options.onRefusal && methodOf(given, options.onRefusal)
  }

  /** False for a method that passes ungated: with `gateMutationsOnly`, GET, HEAD and OPTIONS. */
  gatesMethod(method: string): boolean {
    stringArgument('gatesMethod', 'method', method)
    return !(this.gateMutationsOnly && READ_METHODS.has(method.toUpperCase()))
  }

  /**
   * False for an excluded path and, with `gateMutationsOnly`, for GET/HEAD/OPTIONS. A path is
   * excluded when its canonical form is an entry or lies below one (`/health`, `/health/x`),
   * and only when the target was already canonical: `/%68ealth` or `//health` may be routed
   * elsewhere by the server, so they are gated. `route` is the pattern of the route that serves
   * the request (`null`: the server matched none it can name): an excluded path passes only when
   * that route's own literal segments lie under the entry, so `DELETE /health/users/42` reaching
   * `/:version/users/:id` is gated. Without `route` the path alone decides.
   */
  shouldGate(method: string, path: string, options: { caseInsensitive?: boolean; route?: string | null } = {}): boolean {
    stringArgument('shouldGate', 'method', method)
    stringArgument('shouldGate', 'path', path)
    options = optionalObjectArgument('shouldGate', 'options', options) ?? {}
    if (options.route !== undefined && options.route !== null) stringArgument('shouldGate', 'options.route', options.route)
    if (!this.gatesMethod(method)) return false
    const fold = options.caseInsensitive === true
    const canon = canonicalPath(path, { foldCase: fold })
    if (!canon.ok || !canon.clean) return true
    return !this.excludedPaths.some((entry) => {
      const e = canonicalPath(entry, { foldCase: fold })
      if (!e.ok) return false
      const pathUnder = e.path === '/' || canon.path === e.path || canon.path.startsWith(`${e.path}/`)
      if (!pathUnder || options.route === undefined) return pathUnder
      return options.route !== null && routeUnder(options.route, e.segments, fold)
    })
  }

  /** The verdict for `req` (synchronous: in-process gates, and a synchronous `identify`). */
  evaluate(req: HttpRequestInfo): Verdict {
    checkedRequest('HttpKavachMiddleware.evaluate', req)
    let who: unknown
    if (this.#identify !== undefined) {
      try {
        who = this.#identify(req)
      } catch (e) {
        return this.#identityFailed(req, 'identify() threw', e)
      }
      if (who instanceof Promise) {
        // Misuse, not a refusal; the rejection, if any, is handled so it cannot go unobserved.
        who.catch(() => undefined)
        throw new InvalidArgumentError('identify() returned a Promise: use evaluateAsync (express and fastify do)')
      }
    }
    const ctx = this.#context(req, who)
    return this.#seen(req, 'kind' in ctx ? ctx : this.gate.evaluate(ctx))
  }

  /** The verdict for `req`, with any gate and an async `identify`. */
  async evaluateAsync(req: HttpRequestInfo): Promise<Verdict> {
    checkedRequest('HttpKavachMiddleware.evaluateAsync', req)
    let who: unknown
    if (this.#identify !== undefined) {
      try {
        who = await this.#identify(req)
      } catch (e) {
        return this.#identityFailed(req, 'identify() threw', e)
      }
    }
    const ctx = this.#context(req, who)
    return this.#seen(req, 'kind' in ctx ? ctx : await this.gate.evaluateAsync(ctx))
  }

  /** Reports a verdict that is not a Permit to `onRefusal`; returns it unchanged. */
  #seen(req: HttpRequestInfo, v: Verdict, cause?: unknown): Verdict {
    if (!v.isPermit && this.#onRefusal !== undefined) {
      try {
        const r: unknown = this.#onRefusal(cause === undefined ? { verdict: v, request: req } : { verdict: v, request: req, cause })
        // An async hook's rejection is reported like a throw, never left unhandled (which ends the process).
        if (isThenable(r)) {
          const reported = r.then(undefined, (e: unknown) => onRefusalFailed("onRefusal's promise rejected", e))
          // The chain ends here: nothing it settles with may go unhandled.
          if (isThenable(reported)) reported.then(undefined, () => undefined)
        }
      } catch (e) {
        onRefusalFailed('onRefusal threw', e)
      }
    }
    return v
  }

  #identityFailed(req: HttpRequestInfo, reason: string, cause?: unknown): Verdict {
    return this.#seen(req, this.#refuse('IDENTITY_FAILED', reason, requestFacts(req)), cause)
  }

  /** A refusal of the middleware's own, recorded by the gate (src/integrations/unevaluated.ts). */
  #refuse(code: RefuseCode, reason: string, facts: CallFacts): Verdict {
    return refuseUnevaluated(this.gate, code, 'http', reason, facts)
  }

  /** The gate context, or a refusal when the request cannot be one. */
  #context(req: HttpRequestInfo, identified: unknown): EvaluateOptions | Verdict {
    const judged = judgedAs(req)
    if ('refusal' in judged) return this.#refuse('INVALID_CONTEXT', judged.refusal, requestFacts(req))
    const ctx: EvaluateOptions = {
      principalId: 'anonymous',
      principalKind: 'user',
      actionName: judged.actionName,
      resource: judged.resource,
    }
    if (req.ip !== undefined) ctx.ip = req.ip
    let who: HttpPrincipal | undefined
    if (this.#identify !== undefined) {
      const problem = principalProblem(identified)
      if (problem !== undefined) return this.#refuse('IDENTITY_FAILED', problem, requestFacts(req))
      who = identified as HttpPrincipal | undefined
      if (who !== undefined) {
        ctx.principalId = who.principalId
        ctx.principalKind = who.principalKind ?? 'user'
        if (who.roles !== undefined) ctx.roles = who.roles
        if (who.sessionId !== undefined) ctx.sessionId = who.sessionId
        if (who.device !== undefined) ctx.device = who.device
      }
    } else {
      ctx.principalId = header(req.headers, this.principalHeader) ?? 'anonymous'
      const kind = header(req.headers, this.kindHeader) ?? 'user'
      if (!PRINCIPAL_KINDS.includes(kind as PrincipalKind)) {
        const reason = `header '${this.kindHeader}' must be one of ${PRINCIPAL_KINDS.join(', ')}, got '${kind}'`
        return this.#refuse('INVALID_CONTEXT', reason, { ...requestFacts(req), principalId: ctx.principalId })
      }
      ctx.principalKind = kind as PrincipalKind
      const roles = header(req.headers, this.rolesHeader)
      if (roles !== undefined) ctx.roles = roles.split(',').map((r) => r.trim()).filter((r) => r.length > 0)
    }
    let currentGeo = req.currentGeo ?? who?.currentGeo
    let originGeo = req.originGeo ?? who?.originGeo
    if (currentGeo === undefined && originGeo === undefined && this.#geoResolver !== undefined) {
      const resolved = this.#geoResolver(req)
      currentGeo = resolved?.currentGeo
      originGeo = resolved?.originGeo
    }
    if (currentGeo !== undefined) ctx.currentGeo = currentGeo
    if (originGeo !== undefined) ctx.originGeo = originGeo
    const body = forwardedParams(this.gate, {
      action: ctx.actionName,
      subject: 'the request body',
      value: req.body,
      unparsed: req.body === undefined && hasContent(req.headers) ? UNPARSED_BODY : undefined,
    })
    if ('refusal' in body) return this.#refuse('INVALID_CONTEXT', body.refusal, contextFacts(ctx))
    const query = queryStringProblem(this.gate, req.path)
    if (query !== undefined) return this.#refuse('INVALID_CONTEXT', query, contextFacts(ctx))
    ctx.params = body.params
    return ctx
  }
}

/** The action name recorded for a request whose target cannot be judged (no route action). */
export const UNROUTABLE_ACTION = '(unroutable request)'

/** What the middleware knows of a request it answers without evaluating. */
export function requestFacts(req: Pick<HttpRequestInfo, 'method' | 'path' | 'route' | 'caseInsensitive' | 'ip'>): CallFacts {
  const judged = judgedAs(req)
  const facts: CallFacts = 'refusal' in judged ? { actionName: UNROUTABLE_ACTION } : { actionName: judged.actionName, resource: judged.resource }
  if (req.ip !== undefined) facts.ip = req.ip
  return facts
}

/** The answer to a request the gate did not permit (undefined for a Permit). */
export function httpRefusal(v: Verdict): { status: 401 | 403; body: Record<string, string> } | undefined {
  if (v.isPermit) return undefined
  // Drift's reasons name where the session came from; the client may be replaying a stolen one.
  const hidden = quotesSessionOrigin(v)
  if (v.isInvalidate) return { status: 401, body: { error: 'session_invalidated', reason: hidden ? sessionOriginReason(v) : (v.reason ?? 'session invalidated') } }
  const code = v.code ?? 'NO_POLICY_MATCH'
  // The middleware's own refusals (evaluator `http`) carry fixed texts that quote no server data.
  const readable = READABLE_REASON_CODES.has(code) || v.evaluator === 'http'
  const reason = hidden ? sessionOriginReason(v) : readable ? (v.reason ?? 'refused') : genericReason(code, 'client')
  return { status: 403, body: { error: 'forbidden', code, reason } }
}
