// Fastify hook: Permit continues; Invalidate -> 401; Refuse -> 403 (bodies in http.ts).
// Structural types only, so importing kavach-sdk never needs fastify.

import type { Gate } from '../gate.js'
import { type HttpHeaders, HttpKavachMiddleware, type HttpMiddlewareOptions, httpRefusal, pathOf } from './http.js'

/** The parts of a fastify request the hook reads. */
export interface FastifyRequestLike {
  method: string
  url: string
  headers: HttpHeaders
  body?: unknown
  ip?: string
}

/** The parts of a fastify reply the hook uses. */
export interface FastifyReplyLike {
  code(statusCode: number): { send(payload?: unknown): unknown }
}

/**
 * An async hook for `onRequest` (before the body is parsed: no body params) or `preHandler`
 * (body params available). A thrown error from `identify` or the gate rejects the hook, so
 * fastify's error handler answers and the route handler does not run.
 */
export function createFastifyHook(
  gate: Gate,
  options: HttpMiddlewareOptions = {},
): (request: FastifyRequestLike, reply: FastifyReplyLike) => Promise<unknown> {
  const mw = new HttpKavachMiddleware(gate, options)
  return async (request, reply) => {
    const path = pathOf(request.url)
    if (!mw.shouldGate(request.method, path)) return undefined
    const v = await mw.evaluateAsync({ method: request.method, path, headers: request.headers, body: request.body, ip: request.ip })
    const refusal = httpRefusal(v)
    // Returning the reply after send() tells fastify the request is answered.
    return refusal === undefined ? undefined : reply.code(refusal.status).send(refusal.body)
  }
}
