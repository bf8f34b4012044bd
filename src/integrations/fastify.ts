// Fastify hook: Permit continues; Invalidate -> 401; Refuse -> 403 (bodies in http.ts).
// Structural types only, so importing kavach-sdk never needs fastify.
//
// Fastify has routed the request before any hook runs, so the gate judges the route's pattern
// (`request.routeOptions.url`), whatever spelling of the path reached it (percent-encoded,
// absolute-form, any case with `caseSensitive: false`).

import { KavachError } from '../errors.js'
import type { Gate } from '../gate.js'
import { type HttpHeaders, HttpKavachMiddleware, type HttpMiddlewareOptions, type HttpRequestInfo, httpRefusal } from './http.js'

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
}

/** The parts of a fastify reply the hook uses. */
export interface FastifyReplyLike {
  code(statusCode: number): { send(payload?: unknown): unknown }
}

/** Whether the instance sets router option `name` to `value`, top-level or under `routerOptions` (fastify 5 takes both). */
function routerOption(request: FastifyRequestLike, name: 'caseSensitive' | 'useSemicolonDelimiter', value: boolean): boolean {
  const config = request.server?.initialConfig
  if (typeof config !== 'object' || config === null) return false
  const c = config as Record<string, unknown> & { routerOptions?: Record<string, unknown> }
  // `routerOptions` first: reading a router option at the top level is deprecated (a warning).
  const nested = c.routerOptions?.[name]
  return nested !== undefined ? nested === value : c[name] === value
}

/**
 * The request target as fastify reads it. With `useSemicolonDelimiter` its router ends the
 * path at the first `;` as at `?` and `#`, and what follows is `request.query`
 * (`/refunds;amount=5000` gives `amount`): that `;` becomes a `?`, so the gate judges the path
 * fastify routed and checks that query.
 */
function targetOf(request: FastifyRequestLike): string {
  const url = request.url
  if (!routerOption(request, 'useSemicolonDelimiter', true)) return url
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
    const ci = routerOption(request, 'caseSensitive', false)
    const target = targetOf(request)
    const matched = request.routeOptions?.url
    const route = typeof matched === 'string' ? matched : undefined
    // An excluded path passes only to a route under it; the not-found handler is gated.
    if (!mw.shouldGate(request.method, target, { caseInsensitive: ci, route: route ?? null })) return undefined
    const info: HttpRequestInfo = { method: request.method, path: target, caseInsensitive: ci, headers: request.headers, body: request.body }
    if (route !== undefined) info.route = route
    if (request.ip !== undefined) info.ip = request.ip
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
