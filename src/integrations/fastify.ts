// Fastify hook: Permit continues; Invalidate -> 401; Refuse -> 403 (bodies in http.ts).
// Structural types only, so importing kavach-sdk never needs fastify.
//
// Fastify has routed the request before any hook runs, so the gate judges the route's pattern
// (`request.routeOptions.url`), whatever spelling of the path reached it (percent-encoded,
// absolute-form, any case with `caseSensitive: false`).

import { KavachError } from '../errors.js'
import type { Gate } from '../gate.js'
import { inheritedFields } from '../options.js'
import { isRecord } from '../own-properties.js'
import { type HttpHeaders, HttpKavachMiddleware, type HttpMiddlewareOptions, type HttpRequestInfo, httpRefusal, transportOf } from './http.js'

/** The parts of a fastify request the hook reads. */
export interface FastifyRequestLike {
  method: string
  url: string
  headers: HttpHeaders
  body?: unknown
  ip?: string
  /** The matched route; `url` is its pattern (undefined for the not-found handler). */
  routeOptions?: { url?: string | undefined }
  /** The instance; its `initialConfig` has the router options the hook follows (case, `;` as a query delimiter). */
  server?: { initialConfig?: unknown }
  /** Node's request (HTTP/1 or HTTP/2): its HTTP version, and whether an HTTP/2 request carries a body. */
  raw?: unknown
}

/** The parts of a fastify reply the hook uses. */
export interface FastifyReplyLike {
  code(statusCode: number): { send(payload?: unknown): unknown }
}

/** The router options the hook follows, as given at the top level or under `routerOptions`. */
const ROUTER_OPTIONS: readonly string[] = ['caseSensitive', 'useSemicolonDelimiter']

/**
 * The instance's `initialConfig`: top-level options and `routerOptions` (fastify 5 takes both),
 * those the hook follows read as a request's fields are (`inheritedFields`): a default left
 * out (fastify adds no `routerOptions` unless given) is not taken from a polluted
 * `Object.prototype`.
 */
function initialConfig(request: FastifyRequestLike): (Record<string, unknown> & { routerOptions?: Record<string, unknown> }) | undefined {
  const config = request.server?.initialConfig
  if (!isRecord(config)) return undefined
  const read: Record<string, unknown> = inheritedFields(config, [...ROUTER_OPTIONS, 'routerOptions'])
  if (isRecord(read.routerOptions)) read.routerOptions = inheritedFields(read.routerOptions, ROUTER_OPTIONS)
  else delete read.routerOptions
  return read
}

/**
 * The pattern of the route fastify matched, or undefined for the not-found handler. Fastify
 * answers `routeOptions.url` from the route's config, where the not-found handler's has no
 * `url`: read from that config as a request's fields are (`inheritedFields`), so a polluted
 * `Object.prototype.url` names no route for a request that matched none.
 */
function matchedRoute(request: FastifyRequestLike): string | undefined {
  const options = request.routeOptions
  if (!isRecord(options)) return undefined
  const { url, config } = inheritedFields(options, ['url', 'config'])
  const matched = isRecord(config) ? inheritedFields(config, ['url']).url : url
  return typeof matched === 'string' ? matched : undefined
}

/**
 * Whether the instance routes without case. Fastify's router takes `routerOptions.caseSensitive`
 * when given, else the top-level option; `initialConfig` keeps both as given (its validator adds
 * no default under `routerOptions` for this one), so the nested one, when present, decides.
 */
function ignoresCase(request: FastifyRequestLike): boolean {
  const c = initialConfig(request)
  const nested = c?.routerOptions?.caseSensitive
  return (nested !== undefined ? nested : c?.caseSensitive) === false
}

/**
 * Whether the router may end the path at `;`. Fastify's router takes
 * `routerOptions.useSemicolonDelimiter` when given, else the top-level option, but
 * `initialConfig` cannot tell a given `routerOptions.useSemicolonDelimiter: false` from the
 * `false` its validator fills in whenever `routerOptions` is given. So `true` in either place
 * counts: judging a `;` as a delimiter where the router does not cuts the path short, and the
 * rest is checked as a query; not judging one where it does would let `/admin/settings;` pass
 * as another path than the one routed.
 */
function semicolonDelimits(request: FastifyRequestLike): boolean {
  const c = initialConfig(request)
  return c?.routerOptions?.useSemicolonDelimiter === true || c?.useSemicolonDelimiter === true
}

/**
 * The request target as fastify reads it. With `useSemicolonDelimiter` its router ends the
 * path at the first `;` as at `?` and `#`, and what follows is `request.query`
 * (`/refunds;amount=5000` gives `amount`): that `;` becomes a `?`, so the gate judges the path
 * fastify routed and checks that query.
 */
function targetOf(request: FastifyRequestLike): string {
  const url = request.url
  if (!semicolonDelimits(request)) return url
  const end = url.search(/[;?#]/)
  return end >= 0 && url[end] === ';' ? `${url.slice(0, end)}?${url.slice(end + 1)}` : url
}

/**
 * An async hook for `onRequest` (before the body is parsed: no body params) or `preHandler`
 * (body params available). A refusal from `identify` is a 403; an error from the gate or
 * `geoResolver` rejects the hook with a generic message (the original is its `cause`), so
 * fastify's error handler answers and the route handler does not run.
 */
export function createFastifyHook(
  gate: Gate,
  options: HttpMiddlewareOptions = {},
): (request: FastifyRequestLike, reply: FastifyReplyLike) => Promise<unknown> {
  const mw = new HttpKavachMiddleware(gate, options)
  return async (request, reply) => {
    // fastify routes case-sensitively unless told otherwise (`caseSensitive: false`).
    const ci = ignoresCase(request)
    const target = targetOf(request)
    const route = matchedRoute(request)
    // An excluded path passes only to a route under it; the not-found handler is gated.
    if (!mw.shouldGate(request.method, target, { caseInsensitive: ci, route: route ?? null })) return undefined
    // The request's fields as `HttpKavachMiddleware` reads them: never from `Object.prototype`.
    const { headers, body, ip, raw } = inheritedFields(request, ['headers', 'body', 'ip', 'raw']) as Partial<FastifyRequestLike>
    const info: HttpRequestInfo = { method: request.method, path: target, caseInsensitive: ci, headers: headers!, body, ...transportOf(raw) }
    if (route !== undefined) info.route = route
    if (ip !== undefined) info.ip = ip
    let v
    try {
      v = await mw.evaluateAsync(info)
    } catch (err) {
      const code = err instanceof KavachError ? err.code : 'INTERNAL'
      throw new KavachError(code, 'kavach: the request could not be evaluated (see the cause server-side)', { cause: err })
    }
    const refusal = httpRefusal(v)
    // Returning the reply after send() tells fastify the request is answered.
    return refusal === undefined ? undefined : reply.code(refusal.status).send(refusal.body)
  }
}
