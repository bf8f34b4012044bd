// Express middleware: Permit -> next(); Invalidate -> 401; Refuse -> 403 (bodies in http.ts).
// Structural types only, so importing kavach-sdk never needs express.
//
// Mounted with `app.use`, the middleware runs before express has chosen a route, yet the gate
// must judge the route that will run. So it asks the app's router which route that is, with
// the router's own matchers (its case sensitivity and trailing-slash rules, on the undecoded
// path as the router reads it), and judges that route's pattern. Should another route run in
// the end (a handler called `next()`, a later middleware rewrote `req.url`) and that route is
// judged as a different action, express is stopped before the route's handlers with a 403
// error: a route runs only as what the gate judged.

import { KavachError, Refused } from '../errors.js'
import type { Gate } from '../gate.js'
import { type HttpHeaders, HttpKavachMiddleware, type HttpMiddlewareOptions, type HttpRequestInfo, httpRefusal, requestFacts } from './http.js'
import { canonicalPath, judgedAs } from './http-route.js'
import { refuseUnevaluated } from './unevaluated.js'

/** The parts of an express `Request` the middleware reads. */
export interface ExpressRequestLike {
  method: string
  /** The full URL as received (a mounted router's `req.url` is relative to its mount point). */
  originalUrl: string
  headers: HttpHeaders
  body?: unknown
  ip?: string | undefined
  /** The application (its router is asked which route the request reaches). */
  app?: unknown
  /** Set by express when the middleware runs as a route handler. */
  route?: unknown
  /** The path the current router is mounted at. */
  baseUrl?: string
}

/** The parts of an express `Response` the middleware uses. */
export interface ExpressResponseLike {
  status(code: number): { json(body: unknown): unknown }
}

// --- the router, read structurally ---

interface RouteLike {
  path?: unknown
  stack?: unknown
  methods?: Record<string, unknown>
  _handlesMethod?: (method: string) => unknown
}

interface LayerLike {
  handle?: unknown
  route?: unknown
  match?: (path: string) => unknown
}

interface AppLike {
  router?: { stack?: unknown }
  parent?: unknown
  mountpath?: unknown
  enabled?: (setting: string) => unknown
}

type Middleware = (req: ExpressRequestLike, res: ExpressResponseLike, next: (err?: unknown) => void) => void

function isObject(v: unknown): v is Record<string, unknown> {
  return (typeof v === 'object' && v !== null) || typeof v === 'function'
}

/** A route, or what a global middleware found in its place while asking the router. */
type Step = { kind: 'self' } | { kind: 'route'; route: object; pattern: string | undefined } | { kind: 'opaque' }

const MAX_DEPTH = 32
/**
 * Layers looked at per request: a router mounted twice at each level makes the walk grow
 * exponentially with depth, and it runs on every gated request. Past the budget the rest is
 * opaque (routes there are stopped by the guard unless judged as the same action).
 */
const MAX_LAYERS = 10_000
/** A mount path that is plain text (no parameters, wildcards or groups). */
const LITERAL_MOUNT = /^\/[^:*{}()?+\\]*$/

/** `layer.match(path)` as the router calls it: `{ path, pattern }`, or undefined for no match. */
function matchLayer(layer: LayerLike, path: string): { path: string; pattern: unknown } | undefined {
  if (typeof layer.match !== 'function') return undefined
  let m: unknown
  try {
    m = layer.match(path)
  } catch {
    // The router forwards a match error (malformed parameter encoding) to the error handlers.
    return undefined
  }
  if (m === true) {
    // Routers before 2.3 answer a boolean and keep the matched path on the layer.
    const route = layer.route as RouteLike | undefined
    const matched = (layer as Record<string, unknown>).path
    return { path: typeof matched === 'string' ? matched : '', pattern: route?.path }
  }
  if (!isObject(m)) return undefined
  return { path: typeof m.path === 'string' ? m.path : '', pattern: m.pattern }
}

/** Whether `route` runs a handler for `method` (HEAD: a GET handler answers it, as the router does). */
function handlesMethod(route: RouteLike, method: string): boolean {
  if (typeof route._handlesMethod === 'function') return Boolean(route._handlesMethod(method))
  const methods = route.methods ?? {}
  const name = method.toLowerCase()
  return Boolean(methods._all ?? methods[name] ?? (name === 'head' ? methods.get : undefined))
}

function joinPattern(prefix: string | undefined, pattern: unknown): string | undefined {
  if (prefix === undefined || typeof pattern !== 'string') return undefined
  const head = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix
  return pattern.startsWith('/') ? `${head}${pattern}` : `${head}/${pattern}`
}

/** Walks a router stack in the order the router dispatches, recording routes that match. */
function walk(stack: unknown[], path: string, prefix: string | undefined, method: string, self: Middleware, steps: Step[], depth: number, budget: { layers: number }): void {
  if (depth > MAX_DEPTH) {
    steps.push({ kind: 'opaque' })
    return
  }
  for (const item of stack) {
    if (--budget.layers < 0) {
      steps.push({ kind: 'opaque' })
      return
    }
    if (!isObject(item)) continue
    const layer = item as LayerLike
    if (layer.handle === self) {
      steps.push({ kind: 'self' })
      continue
    }
    const m = matchLayer(layer, path)
    if (m === undefined) continue
    if (isObject(layer.route)) {
      const route = layer.route as RouteLike
      if (handlesMethod(route, method)) steps.push({ kind: 'route', route, pattern: joinPattern(prefix, m.pattern) })
      continue
    }
    const handle = layer.handle
    const nested = isObject(handle) ? handle.stack : undefined
    if (Array.isArray(nested)) {
      // A mounted router: the same prefix checks and trimming as the router's own.
      const lp = m.path
      if (lp.length > 0 && (path.slice(0, lp.length) !== lp || (path.length > lp.length && path[lp.length] !== '/'))) continue
      const rest = path.slice(lp.length)
      walk(nested, rest.startsWith('/') ? rest : `/${rest}`, joinPattern(prefix, m.pattern), method, self, steps, depth + 1, budget)
    } else if (typeof handle === 'function' && handle.name === 'mounted_app') {
      // A sub-application's routes cannot be seen from here.
      steps.push({ kind: 'opaque' })
    }
  }
}

/** `rawPath` relative to `app` (a sub-app sees the path below its mount path), and that mount path. */
function appRelative(app: AppLike, rawPath: string): { path: string; prefix: string } | undefined {
  const mounts: string[] = []
  for (let a: unknown = app; isObject(a) && a.parent !== undefined; a = a.parent) {
    if (mounts.length > MAX_DEPTH || typeof a.mountpath !== 'string' || !LITERAL_MOUNT.test(a.mountpath)) return undefined
    if (a.mountpath !== '/') mounts.unshift(a.mountpath.replace(/\/+$/, ''))
  }
  const prefix = mounts.join('')
  if (prefix === '') return { path: rawPath, prefix: '' }
  const head = rawPath.slice(0, prefix.length)
  if (head.toLowerCase() !== prefix.toLowerCase() || (rawPath.length > prefix.length && rawPath[prefix.length] !== '/')) return undefined
  return { path: rawPath.slice(prefix.length) || '/', prefix }
}

/** The routes the request can reach after `self`, in dispatch order, and the one it reaches first. */
function resolveRoutes(req: ExpressRequestLike, rawPath: string, self: Middleware): { first: Step | undefined; routes: Map<object, string | undefined> } | undefined {
  const app = req.app as AppLike | undefined
  const stack = isObject(app) && isObject(app.router) ? app.router.stack : undefined
  if (!isObject(app) || !Array.isArray(stack)) return undefined
  const relative = appRelative(app, rawPath)
  if (relative === undefined) return undefined
  const steps: Step[] = []
  walk(stack, relative.path, relative.prefix, req.method, self, steps, 0, { layers: MAX_LAYERS })
  const selfAt = steps.findIndex((s) => s.kind === 'self')
  const ahead = steps.slice(selfAt + 1)
  const routes = new Map<object, string | undefined>()
  for (const s of ahead) if (s.kind === 'route') routes.set(s.route, s.pattern)
  return { first: ahead.find((s) => s.kind !== 'self'), routes }
}

/** The pattern of a route that is about to run: the canonical mount path joined with the route's path. */
function dispatchPattern(req: ExpressRequestLike, route: RouteLike, caseInsensitive: boolean): string | undefined {
  // The mount path as the client spelled it (`/Users`): folded as the router matched it.
  const base = canonicalPath(req.baseUrl === undefined || req.baseUrl === '' ? '/' : req.baseUrl, { foldCase: caseInsensitive })
  return base.ok ? joinPattern(base.path, route.path) : undefined
}

/**
 * Stops a route that was not judged: express assigns `req.route` once when it picks a route and
 * again inside the route's dispatch, right before the first handler; a throw there reaches
 * `next(err)` and the handlers do not run. The route is judged with the method as it is then:
 * a method override after the gate (`X-HTTP-Method-Override`) changes which route runs. A
 * request the gate let pass ungated (`judged` undefined: a read, an excluded path) is stopped
 * if by then it would be gated.
 */
function guardRoutes(
  gate: Gate,
  req: ExpressRequestLike,
  judged: { actionName: string } | undefined,
  routes: Map<object, string | undefined>,
  info: HttpRequestInfo,
  gatedNow: (method: string) => boolean,
): void {
  // The route already set (an earlier route that called `next()`, or the route this middleware
  // runs in) stays readable.
  let current: unknown = req.route
  const actionOf = (route: RouteLike): string | undefined => {
    const pattern = routes.has(route) ? routes.get(route) : dispatchPattern(req, route, info.caseInsensitive === true)
    const j = judgedAs({ ...info, method: req.method, route: pattern })
    return 'refusal' in j ? undefined : j.actionName
  }
  Object.defineProperty(req, 'route', {
    configurable: true,
    enumerable: true,
    get: () => current,
    set: (route: unknown) => {
      const again = route === current
      current = route
      if (!again || !isObject(route)) return
      let reason: string
      if (judged === undefined) {
        if (!gatedNow(req.method)) return
        reason = `the request was let through ungated as ${info.method} and reached a route as ${req.method}`
      } else {
        const action = actionOf(route as RouteLike)
        if (action === judged.actionName) return
        reason = `the request reached a route judged as '${action ?? 'unknown'}', not '${judged.actionName}' as the gate judged it`
      }
      const facts = requestFacts({ ...info, method: req.method })
      const err = new Refused('INVALID_CONTEXT', 'http', reason, refuseUnevaluated(gate, 'INVALID_CONTEXT', 'http', reason, facts))
      throw Object.assign(err, { status: 403, statusCode: 403 })
    },
  })
}

/**
 * True when `self` runs as one of `route`'s handlers. `req.route` alone does not tell: it stays
 * set to an earlier route whose handler passed the request on with `next()`.
 */
function inRoute(route: unknown, self: Middleware): boolean {
  const stack = isObject(route) ? route.stack : undefined
  return Array.isArray(stack) && stack.some((layer) => isObject(layer) && layer.handle === self)
}

/** What reaches the framework when the gate itself fails: a code and a message without internals. */
function opaqueError(err: unknown): KavachError {
  const code = err instanceof KavachError ? err.code : 'INTERNAL'
  return new KavachError(code, 'kavach: the request could not be evaluated (see the cause server-side)', { cause: err })
}

/**
 * Gates every request that `shouldGate` selects. Mount it with `app.use` (after `express.json()`
 * for body params) or as a route handler. The gate judges the route express routes the request
 * to (`DELETE /USERS/sessions` reaching `DELETE /users/:id` is `users.delete`), and, when no
 * route matches, the canonical path. A refusal from `identify` is a 403; an error from the gate
 * or `geoResolver` goes to `next(err)` with a generic message (the original is its `cause`).
 */
export function createExpressMiddleware(gate: Gate, options: HttpMiddlewareOptions = {}): Middleware {
  const mw = new HttpKavachMiddleware(gate, options)
  const self: Middleware = (req, res, next) => {
    const app = req.app as AppLike | undefined
    // Express routes case-insensitively unless the app enables 'case sensitive routing'.
    const caseInsensitive = !(isObject(app) && typeof app.enabled === 'function' && app.enabled('case sensitive routing') === true)
    const gatedNow = (method: string): boolean => mw.shouldGate(method, req.originalUrl, { caseInsensitive })
    if (!gatedNow(req.method)) {
      // Guarded still: a method override later in the chain may turn it into a gated request.
      guardRoutes(gate, req, undefined, new Map(), { method: req.method, path: req.originalUrl, caseInsensitive, headers: req.headers }, gatedNow)
      next()
      return
    }
    const info: HttpRequestInfo = { method: req.method, path: req.originalUrl, caseInsensitive, headers: req.headers, body: req.body }
    if (req.ip !== undefined) info.ip = req.ip
    const canon = canonicalPath(req.originalUrl)
    let routes: Map<object, string | undefined> | undefined
    if (canon.ok) {
      const resolved = resolveRoutes(req, canon.raw, self)
      if (inRoute(req.route, self)) {
        // Running as a route handler: judge this route.
        const route = req.route as RouteLike
        info.route = resolved?.routes.has(route) === true ? resolved.routes.get(route) : dispatchPattern(req, route, caseInsensitive)
      } else {
        routes = resolved?.routes ?? new Map()
        if (resolved?.first?.kind === 'route') info.route = resolved.first.pattern
      }
    }
    mw.evaluateAsync(info).then(
      (v) => {
        const refusal = httpRefusal(v)
        if (refusal !== undefined) {
          res.status(refusal.status).json(refusal.body)
          return
        }
        if (routes !== undefined) {
          const judged = judgedAs(info)
          if (!('refusal' in judged)) guardRoutes(gate, req, judged, routes, info, gatedNow)
        }
        next()
      },
      (err: unknown) => next(opaqueError(err)),
    )
  }
  return self
}
