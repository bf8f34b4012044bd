// HTTP middleware core with the earlier Node SDK's names and defaults: which requests are
// gated, the action and resource a request is judged as, and its verdict. The express and
// fastify adapters (express.ts, fastify.ts) answer with it.
//
// The gate must judge the request the framework routes, not its spelling: the path is reduced
// to one canonical form (canonicalPath, http-route.ts) and, when the framework names the route it matched,
// the action comes from that route's pattern, so neither case, percent-encoding, an
// absolute-form target nor a client-chosen parameter value can pick a different action.

import { type EvaluateOptions, type GeoLocationInput, PRINCIPAL_KINDS, type PrincipalKind } from '../context.js'
import { InvalidArgumentError, InvalidContextError, KavachError, kindOf, thrownText } from '../errors.js'
import type { Gate } from '../gate.js'
import type { Explanation, Verdict } from '../native.js'
import type { RefuseCode } from '../verdict.js'
import { gateArgument, isThenable, objectArgument, optionalObjectArgument, stringArgument } from '../arguments.js'
import { type FieldChecks, arrayOf, boolean, checkedOptions, fn, inheritedFields, methodOf, string } from '../options.js'
import { isRecord } from '../own-properties.js'
import { canonicalPath, judgedAs, requestFields, routeUnder } from './http-route.js'
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
  /**
   * The HTTP major version (node's `httpVersionMajor`). HTTP/1.x announces a body in its
   * headers (`content-length`, `transfer-encoding`); HTTP/2 does not, so there a request that
   * is not known to be empty is taken to carry one (see `endAfterHeaders`).
   */
  httpVersionMajor?: number
  /**
   * HTTP/2: the request's HEADERS frame ended its stream (node's `stream.endAfterHeaders`), so
   * no body follows.
   */
  endAfterHeaders?: boolean
}

/** What `geoResolver` returns. */
export interface HttpResolvedGeo {
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
 * reason (the client may get a generic one, see `httpRefusal`) and, as `cause`, what `identify`
 * threw when it failed, or the gate's error for a context field it cannot take.
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
  /**
   * Geo for a request that carries none of its own (not called when it does). May return a
   * Promise on the async paths (`evaluateAsync`, express, fastify); `evaluate` throws
   * `InvalidArgumentError` for one, as it does for anything but an object or undefined.
   */
  geoResolver?: (req: HttpRequestInfo) => HttpResolvedGeo | undefined | Promise<HttpResolvedGeo | undefined>
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

/**
 * Whether a request (its fields, as the middleware reads them) carries a body. A non-zero
 * `content-length` or a `transfer-encoding` says so in any version, `content-length: 0` says
 * it is empty. Otherwise HTTP/1.x has none (its headers are the only way a body is announced),
 * while HTTP/2 sends a body without either header: there the request has one unless its
 * HEADERS frame ended the stream. A request of unknown version has one when it names a
 * `content-type`.
 */
function hasContent(req: HttpRequestInfo): boolean {
  const length = header(req.headers, 'content-length')
  if ((length !== undefined && length !== '0') || header(req.headers, 'transfer-encoding') !== undefined) return true
  if (length === '0') return false
  const major = req.httpVersionMajor
  if (typeof major === 'number' && major < 2) return false
  if (typeof major === 'number') return req.endAfterHeaders !== true
  return header(req.headers, 'content-type') !== undefined
}

/**
 * What the HTTP transport tells of a request that `hasContent` reads, from node's request
 * (`IncomingMessage`, or HTTP/2's `Http2ServerRequest` with its `stream`): only values of the
 * right type, so an unknown version reads as unknown.
 */
export function transportOf(raw: unknown): Pick<HttpRequestInfo, 'httpVersionMajor' | 'endAfterHeaders'> {
  if (!isRecord(raw)) return {}
  const out: Pick<HttpRequestInfo, 'httpVersionMajor' | 'endAfterHeaders'> = {}
  // Read as the request's own fields are (`requestFields`), never from `Object.prototype`.
  const { httpVersionMajor: major, stream } = inheritedFields(raw, ['httpVersionMajor', 'stream'])
  if (typeof major === 'number' && Number.isInteger(major)) out.httpVersionMajor = major
  const ended = isRecord(stream) ? inheritedFields(stream, ['endAfterHeaders']).endAfterHeaders : undefined
  if (typeof ended === 'boolean') out.endAfterHeaders = ended
  return out
}

/** A body that arrives with the request but is not parsed when the middleware runs. */
const UNPARSED_BODY =
  'was not parsed when the gate ran (gate after the body parser: express.json() before the middleware, fastify preHandler rather than onRequest)'

/** The fields of a principal that `identify` may set. */
const PRINCIPAL_FIELDS: readonly string[] = ['principalId', 'principalKind', 'roles', 'sessionId', 'currentGeo', 'originGeo', 'device'] satisfies readonly (keyof HttpPrincipal)[]

/**
 * The principal `who` (what `identify` returned) names, or why it is none. Each field is read
 * once, through the principal's prototypes (a class instance, `Object.create(defaults)`) but
 * never from `Object.prototype` (`inheritedFields`): a polluted `Object.prototype.roles`
 * grants no role.
 */
function principalOf(who: unknown): { principal: HttpPrincipal | undefined } | { problem: string } {
  if (who === undefined) return { principal: undefined }
  const fields = isRecord(who) ? inheritedFields(who, PRINCIPAL_FIELDS) : who
  const problem = identityProblem(fields, { noun: 'principal', idField: 'principalId', kindField: 'principalKind', expected: 'a principal object, or undefined for anonymous' })
  return problem === undefined ? { principal: fields as HttpPrincipal } : { problem }
}

/**
 * The action a principal is checked with on its own (`principalRejection`): a plain name, so
 * only the principal's fields can be what the gate rejects.
 */
const PRINCIPAL_CHECK_ACTION = 'kavach.principal_check'

/** An error the gate throws for a context field it cannot take: an argument or a context it rejects (a malformed geo). */
function gateRejected(e: unknown): e is KavachError {
  return e instanceof KavachError && (e.code === 'INVALID_ARGUMENT' || e.code === 'INVALID_CONTEXT')
}

/**
 * A verdict in which the gate refuses a context field it cannot take (a name over its length
 * limit, a control or invisible character): the gate answers these with a verdict, not a throw.
 */
function contextRefused(v: Verdict): boolean {
  return v.isRefuse && v.code === 'INVALID_CONTEXT' && v.evaluator === 'gate'
}

/** The gate's rejection in an explanation's verdict, as an error naming the field, or undefined when there is none. */
function refusedByVerdict(explained: Explanation): KavachError | undefined {
  const v = explained.verdict
  return contextRefused(v) ? new InvalidContextError(v.reason ?? 'the gate refused the context as INVALID_CONTEXT') : undefined
}

/**
 * The gate's error for the principal part of a context it rejected, asked with `explain`
 * (which changes no state), or undefined when it takes that part. The gate rejects a field
 * either by throwing or with an `INVALID_CONTEXT` verdict; both are read. Any other error of
 * `explain` is thrown.
 */
function principalRejection(explain: () => Explanation): KavachError | undefined {
  try {
    return refusedByVerdict(explain())
  } catch (e) {
    if (gateRejected(e)) return e
    throw e
  }
}

/** `principalRejection` with `explainAsync`, for any gate. */
async function principalRejectionAsync(explain: () => Promise<Explanation>): Promise<KavachError | undefined> {
  try {
    return refusedByVerdict(await explain())
  } catch (e) {
    if (gateRejected(e)) return e
    throw e
  }
}

/** The context of one request, and its principal's part of it (from `identify` or the headers) as a context of its own. */
interface RequestContext {
  ctx: EvaluateOptions
  principal: EvaluateOptions
}

/** `geoResolver`'s answer as geo fields, read as a principal's are; throws for anything but an object or undefined. */
function resolvedGeo(resolved: unknown): HttpResolvedGeo {
  if (resolved === undefined) return {}
  if (!isRecord(resolved)) throw new InvalidArgumentError(`geoResolver() returned ${kindOf(resolved)}; expected { currentGeo?, originGeo? } or undefined`)
  return inheritedFields(resolved, ['currentGeo', 'originGeo']) as HttpResolvedGeo
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
  /** The headers a request is judged by: its principal's, and those that announce a body (`hasContent`). */
  readonly #headerNames: readonly string[]

  constructor(gate: Gate, options: HttpMiddlewareOptions = {}) {
    this.gate = gateArgument('HttpKavachMiddleware', gate)
    const given = optionalObjectArgument<HttpMiddlewareOptions>('HttpKavachMiddleware', 'options', options) ?? {}
    options = checkedOptions(OPTIONS, given) ?? {}
    this.gateMutationsOnly = options.gateMutationsOnly ?? true
    this.excludedPaths = [...(options.excludedPaths ?? ['/health', '/ready', '/metrics'])]
    this.principalHeader = (options.principalHeader ?? 'x-principal-id').toLowerCase()
    this.rolesHeader = (options.rolesHeader ?? 'x-roles').toLowerCase()
    this.kindHeader = (options.kindHeader ?? 'x-principal-kind').toLowerCase()
    this.#headerNames = [this.principalHeader, this.rolesHeader, this.kindHeader, 'content-length', 'transfer-encoding', 'content-type']
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
    const given = optionalObjectArgument<object>('shouldGate', 'options', options)
    // Read as a request's fields are (`requestFields`): a polluted
    // `Object.prototype.caseInsensitive` folds no path into an excluded one.
    options = given === undefined ? {} : inheritedFields(given, ['caseInsensitive', 'route'])
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
    const fields = this.#read('HttpKavachMiddleware.evaluate', req)
    let who: unknown
    if (this.#identify !== undefined) {
      try {
        who = this.#identify(req)
      } catch (e) {
        return this.#identityFailed(req, fields, 'identify() threw', e)
      }
      if (who instanceof Promise) {
        // Misuse, not a refusal; the rejection, if any, is handled so it cannot go unobserved.
        who.catch(() => undefined)
        throw new InvalidArgumentError('identify() returned a Promise: use evaluateAsync (express and fastify do)')
      }
    }
    const built = this.#context(fields, who)
    if ('kind' in built) return this.#seen(req, built)
    if (this.#resolvesGeo(built.ctx)) withGeo(built, this.#resolvedGeoSync(req))
    let v: Verdict
    try {
      v = this.gate.evaluate(built.ctx)
    } catch (e) {
      if (!gateRejected(e)) throw e
      return this.#cannotTake(req, fields, built, e, principalRejection(() => this.gate.explain(built.principal)))
    }
    if (!this.#identifiedRefused(v)) return this.#seen(req, v)
    return this.#principalRefused(req, fields, v, principalRejection(() => this.gate.explain(built.principal)))
  }

  /** The verdict for `req`, with any gate and an async `identify`. */
  async evaluateAsync(req: HttpRequestInfo): Promise<Verdict> {
    const fields = this.#read('HttpKavachMiddleware.evaluateAsync', req)
    let who: unknown
    if (this.#identify !== undefined) {
      try {
        who = await this.#identify(req)
      } catch (e) {
        return this.#identityFailed(req, fields, 'identify() threw', e)
      }
    }
    const built = this.#context(fields, who)
    if ('kind' in built) return this.#seen(req, built)
    if (this.#resolvesGeo(built.ctx)) withGeo(built, resolvedGeo(await this.#geoResolver!(req)))
    let v: Verdict
    try {
      v = await this.gate.evaluateAsync(built.ctx)
    } catch (e) {
      if (!gateRejected(e)) throw e
      return this.#cannotTake(req, fields, built, e, await principalRejectionAsync(() => this.gate.explainAsync(built.principal)))
    }
    if (!this.#identifiedRefused(v)) return this.#seen(req, v)
    return this.#principalRefused(req, fields, v, await principalRejectionAsync(() => this.gate.explainAsync(built.principal)))
  }

  /**
   * Whether `v` refuses a field the gate cannot take in a context whose principal came from
   * `identify`. Its reason may quote `identify`'s values, which the client is not shown; a
   * principal from the headers is the client's own and keeps the gate's reason.
   */
  #identifiedRefused(v: Verdict): boolean {
    return this.#identify !== undefined && contextRefused(v)
  }

  /**
   * The answer to an `INVALID_CONTEXT` verdict `v` of an identified request: `IDENTITY_FAILED`
   * with the gate's rejection `byPrincipal` as the cause when the principal part is what the
   * gate rejects (as for a thrown rejection, `#cannotTake`), else `v` itself.
   */
  #principalRefused(req: HttpRequestInfo, fields: HttpRequestInfo, v: Verdict, byPrincipal: KavachError | undefined): Verdict {
    if (byPrincipal === undefined) return this.#seen(req, v)
    return this.#identityFailed(req, fields, 'identify() returned a principal the gate cannot take', byPrincipal)
  }

  /**
   * `req` as the middleware judges it (`requestFields`), with its `headers` cut down to those
   * it reads, read the same way, so a polluted `Object.prototype['x-roles']` grants no role.
   * The hooks (`identify`, `geoResolver`, `onRefusal`) are given `req` itself. Throws
   * `InvalidArgumentError` for a request that is none, or headers that are not an object.
   */
  #read(where: string, req: HttpRequestInfo): HttpRequestInfo {
    const fields = requestFields(where, req)
    fields.headers = inheritedFields(objectArgument(where, 'request.headers', fields.headers), this.#headerNames) as HttpHeaders
    return fields
  }

  /** Whether `geoResolver` is asked for `ctx`: there is one, and the request and its principal gave no geo. */
  #resolvesGeo(ctx: EvaluateOptions): boolean {
    return this.#geoResolver !== undefined && ctx.currentGeo === undefined && ctx.originGeo === undefined
  }

  /** `geoResolver`'s geo on the synchronous path, where a Promise cannot be waited for. */
  #resolvedGeoSync(req: HttpRequestInfo): HttpResolvedGeo {
    const resolved: unknown = this.#geoResolver!(req)
    if (isThenable(resolved)) {
      // Misuse, not a refusal; the rejection, if any, is handled so it cannot go unobserved.
      resolved.then(undefined, () => undefined)
      throw new InvalidArgumentError('geoResolver() returned a Promise: use evaluateAsync (express and fastify do)')
    }
    return resolvedGeo(resolved)
  }

  /**
   * The refusal of a context the gate rejected with `e`, by where the field came from: the
   * principal, which the gate rejects on its own with `byPrincipal` (`IDENTITY_FAILED` from
   * `identify`, whose values the client is not shown; `INVALID_CONTEXT` from the headers, which
   * the client sent), or the rest of the request (`INVALID_CONTEXT`). `onRefusal` gets the
   * gate's error as the cause.
   */
  #cannotTake(req: HttpRequestInfo, fields: HttpRequestInfo, built: RequestContext, e: KavachError, byPrincipal: KavachError | undefined): Verdict {
    if (byPrincipal === undefined) {
      const reason = 'the request gives the gate a value it cannot take (its address, path, body or geo)'
      return this.#seen(req, this.#refuse('INVALID_CONTEXT', reason, contextFacts(built.ctx)), e)
    }
    if (this.#identify !== undefined) return this.#identityFailed(req, fields, 'identify() returned a principal the gate cannot take', byPrincipal)
    const reason = `header '${this.principalHeader}' or '${this.rolesHeader}' gives the gate a value it cannot take: ${byPrincipal.message}`
    return this.#seen(req, this.#refuse('INVALID_CONTEXT', reason, requestFacts(fields)), byPrincipal)
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

  /** The `IDENTITY_FAILED` refusal of `req` (read as `fields`), reported to `onRefusal` with `cause`. */
  #identityFailed(req: HttpRequestInfo, fields: HttpRequestInfo, reason: string, cause?: unknown): Verdict {
    return this.#seen(req, this.#refuse('IDENTITY_FAILED', reason, requestFacts(fields)), cause)
  }

  /** A refusal of the middleware's own, recorded by the gate (src/integrations/unevaluated.ts). */
  #refuse(code: RefuseCode, reason: string, facts: CallFacts): Verdict {
    return refuseUnevaluated(this.gate, code, 'http', reason, facts)
  }

  /**
   * The gate context of a request (its `fields`, as `#read` gives them), or a refusal when the
   * request cannot be one. Geo from `geoResolver` is left to the caller (`withGeo`), which may
   * wait for it.
   */
  #context(fields: HttpRequestInfo, identified: unknown): RequestContext | Verdict {
    const judged = judgedAs(fields)
    if ('refusal' in judged) return this.#refuse('INVALID_CONTEXT', judged.refusal, requestFacts(fields))
    const principal = this.#principal(fields, identified)
    if ('kind' in principal) return principal
    const ctx: EvaluateOptions = { ...principal, actionName: judged.actionName, resource: judged.resource }
    if (fields.ip !== undefined) ctx.ip = fields.ip
    // The request's own geo, field by field, over the principal's, which then leaves the
    // principal's part: the gate does not judge it.
    for (const field of ['currentGeo', 'originGeo'] as const) {
      if (fields[field] === undefined) continue
      ctx[field] = fields[field]
      delete principal[field]
    }
    const body = forwardedParams(this.gate, {
      action: ctx.actionName,
      subject: 'the request body',
      value: fields.body,
      unparsed: fields.body === undefined && hasContent(fields) ? UNPARSED_BODY : undefined,
    })
    if ('refusal' in body) return this.#refuse('INVALID_CONTEXT', body.refusal, contextFacts(ctx))
    const query = queryStringProblem(this.gate, fields.path)
    if (query !== undefined) return this.#refuse('INVALID_CONTEXT', query, contextFacts(ctx))
    ctx.params = body.params
    return { ctx, principal }
  }

  /**
   * The principal's part of the context of a request (its `fields`, as `#read` gives them), from
   * `identify` when there is one, else from the headers, as a context of its own (action
   * `PRINCIPAL_CHECK_ACTION`); or the refusal of a principal that is none.
   */
  #principal(fields: HttpRequestInfo, identified: unknown): EvaluateOptions | Verdict {
    const part: EvaluateOptions = { principalId: 'anonymous', principalKind: 'user', actionName: PRINCIPAL_CHECK_ACTION }
    if (this.#identify !== undefined) {
      const read = principalOf(identified)
      if ('problem' in read) return this.#refuse('IDENTITY_FAILED', read.problem, requestFacts(fields))
      const who = read.principal
      if (who === undefined) return part
      part.principalId = who.principalId
      part.principalKind = who.principalKind ?? 'user'
      if (who.roles !== undefined) part.roles = who.roles
      if (who.sessionId !== undefined) part.sessionId = who.sessionId
      if (who.device !== undefined) part.device = who.device
      if (who.currentGeo !== undefined) part.currentGeo = who.currentGeo
      if (who.originGeo !== undefined) part.originGeo = who.originGeo
      return part
    }
    part.principalId = header(fields.headers, this.principalHeader) ?? 'anonymous'
    const kind = header(fields.headers, this.kindHeader) ?? 'user'
    if (!PRINCIPAL_KINDS.includes(kind as PrincipalKind)) {
      const reason = `header '${this.kindHeader}' must be one of ${PRINCIPAL_KINDS.join(', ')}, got '${kind}'`
      return this.#refuse('INVALID_CONTEXT', reason, { ...requestFacts(fields), principalId: part.principalId })
    }
    part.principalKind = kind as PrincipalKind
    const roles = header(fields.headers, this.rolesHeader)
    if (roles !== undefined) part.roles = roles.split(',').map((r) => r.trim()).filter((r) => r.length > 0)
    return part
  }
}

/**
 * `geo` (from `geoResolver`) set on a request's context; the principal's part keeps none of it,
 * so a geo the gate cannot take is the request's, not the principal's.
 */
function withGeo(built: RequestContext, geo: HttpResolvedGeo): void {
  if (geo.currentGeo !== undefined) built.ctx.currentGeo = geo.currentGeo
  if (geo.originGeo !== undefined) built.ctx.originGeo = geo.originGeo
}

/** The action name recorded for a request whose target cannot be judged (no route action). */
export const UNROUTABLE_ACTION = '(unroutable request)'

/** The fields of a request that `requestFacts` reads. */
const FACT_FIELDS: readonly string[] = ['method', 'path', 'route', 'caseInsensitive', 'ip'] satisfies readonly (keyof HttpRequestInfo)[]

/** What the middleware knows of a request it answers without evaluating, read as `requestFields` reads it. */
export function requestFacts(req: Pick<HttpRequestInfo, 'method' | 'path' | 'route' | 'caseInsensitive' | 'ip'>): CallFacts {
  const fields = requestFields('requestFacts', req, FACT_FIELDS)
  const judged = judgedAs(fields)
  const facts: CallFacts = 'refusal' in judged ? { actionName: UNROUTABLE_ACTION } : { actionName: judged.actionName, resource: judged.resource }
  if (fields.ip !== undefined) facts.ip = fields.ip
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
