// Express middleware: Permit -> next(); Invalidate -> 401; Refuse -> 403 (bodies in http.ts).
// Structural types only, so importing kavach-sdk never needs express.

import type { Gate } from '../gate.js'
import { type HttpHeaders, HttpKavachMiddleware, type HttpMiddlewareOptions, httpRefusal, pathOf } from './http.js'

/** The parts of an express `Request` the middleware reads. */
export interface ExpressRequestLike {
  method: string
  /** The full URL as received (a mounted router's `req.url` is relative to its mount point). */
  originalUrl: string
  headers: HttpHeaders
  body?: unknown
  ip?: string | undefined
}

/** The parts of an express `Response` the middleware uses. */
export interface ExpressResponseLike {
  status(code: number): { json(body: unknown): unknown }
}

/**
 * Gates every request that `shouldGate` selects. Mount `express.json()` first for body params.
 * An error from `identify` or the gate goes to `next(err)` (the handler does not run).
 */
export function createExpressMiddleware(
  gate: Gate,
  options: HttpMiddlewareOptions = {},
): (req: ExpressRequestLike, res: ExpressResponseLike, next: (err?: unknown) => void) => void {
  const mw = new HttpKavachMiddleware(gate, options)
  return (req, res, next) => {
    const path = pathOf(req.originalUrl)
    if (!mw.shouldGate(req.method, path)) {
      next()
      return
    }
    mw.evaluateAsync({ method: req.method, path, headers: req.headers, body: req.body, ip: req.ip }).then(
      (v) => {
        const refusal = httpRefusal(v)
        if (refusal === undefined) next()
        else res.status(refusal.status).json(refusal.body)
      },
      (err: unknown) => next(err),
    )
  }
}
