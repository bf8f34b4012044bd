// Express middleware: Permit -> next(); Invalidate -> 401; Refuse -> 403 (bodies in http.ts).
// Structural types only, so importing kavach-sdk never needs express.
//
// Mounted with `app.use`, the middleware runs before express has chosen a route, yet the gate
// must judge the route that will run. So it asks the app's router which route that is, with
// the router's own matchers (its case sensitivity and trailing-slash rules, on the undecoded
// path as the router reads it), and judges that route's pattern. Should another route run in
// the end (a handler called `next()`, a later middleware rewrote `req.url`) and that route is
// judged as a different action or resource, express is stopped before the route's handlers
// with a 403 error: a route runs only as what the gate judged. Plain middleware on the way to
// that route (`app.use('/api', requireAuth)`) is taken to pass the request on: one that
// answers the request itself (a proxy) is judged as the route behind it, or as the canonical
// path when no route matches (a limit: docs/INTEGRATIONS.md, "HTTP: express and fastify").

import { KavachError, Refused } from '../errors.js'
import type { Gate } from '../gate.js'
import { inheritedFields } from '../options.js'
import { type HttpHeaders, HttpKavachMiddleware, type HttpMiddlewareOptions, type HttpRequestInfo, httpRefusal, requestFacts, transportOf } from './http.js'
import { absoluteFormPrefix, canonicalPath, type Judgement, judgedAs, sameJudgement, splitTarget } from './http-route.js'
import { refuseUnevaluated } from './unevaluated.js'

/** The parts of an express `Request` the middleware reads. */
export interface ExpressRequestLike {
  method: string
  /** The full URL as received. */
  originalUrl: string
  /** The URL the current router routes, below `baseUrl` (a middleware may have rewritten it). */
  url?: string
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

interface RouterLike {
  stack?: unknown
  /** Set by express from `caseSensitive` (`express.Router()`) or the app's 'case sensitive routing'. */
  caseSensitive?: unknown
}

interface LayerLike {
  handle?: unknown
  route?: unknown
  match?: (path: string) => unknown
}

interface AppLike {
  router?: RouterLike
  parent?: unknown
  mountpath?: unknown
  enabled?: (setting: string) => unknown
}

type Middleware = (req: ExpressRequestLike, res: ExpressResponseLike, next: (err?: unknown) => void) => void

function isObject(v: unknown): v is Record<string, unknown> {
  return (typeof v === 'object' && v !== null) || typeof v === 'function'
}

/**
 * A route's full pattern (mount paths included; undefined for a regular expression), and
 * whether a router on its way matches without case: its literal segments then line up with
 * the client's spelling case-insensitively.
 */
interface RouteFound {
  pattern: string | undefined
  caseInsensitive: boolean
  /**
   * The pattern the exclusion check reads when it is not `pattern`: a route found at dispatch
   * carries a `pattern` built from the path the client sent, which an excluded path can fill in
   * for a mount parameter (`/:tenant` matching `/health`). Null when the mount paths above the
   * route are not all plain text.
   */
  exclusionPattern?: string | null
}

/** A layer the request reaches while a global middleware asks the router. */
type Step = { kind: 'self' } | { kind: 'route'; route: object; found: RouteFound } | { kind: 'opaque' }

/** Where a walk is: the path the router at hand sees, and what the routers above it contribute. */
interface WalkPosition {
  path: string
  /** The mount paths above, joined (undefined once one is a regular expression). */
  prefix: string | undefined
  /** Whether a router on the way here matches without case. */
  parentIgnoresCase: boolean
  depth: number
}

/** What stays the same for a whole walk: the request's method, this middleware, and what is recorded. */
interface WalkRun {
  method: string
  self: Middleware
  steps: Step[]
  budget: { layers: number }
}

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

/** Whether `router` matches paths without case (a router's default; the app's unless 'case sensitive routing'). */
function routerIgnoresCase(router: RouterLike): boolean {
  return router.caseSensitive !== true
}

/**
 * Walks a router stack in the order the router dispatches, recording the layers that match:
 * routes, and what cannot be seen into. Plain middleware is passed over: it is taken to pass
 * the request on.
 */
function walk(router: RouterLike, at: WalkPosition, run: WalkRun): void {
  const { path, prefix } = at
  const { method, self, steps, budget } = run
  if (at.depth > MAX_DEPTH || !Array.isArray(router.stack)) {
    steps.push({ kind: 'opaque' })
    return
  }
  const ignoresCase = at.parentIgnoresCase || routerIgnoresCase(router)
  for (const item of router.stack) {
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
      if (handlesMethod(route, method)) steps.push({ kind: 'route', route, found: { pattern: joinPattern(prefix, m.pattern), caseInsensitive: ignoresCase } })
      continue
    }
    const handle = layer.handle
    if (isObject(handle) && Array.isArray(handle.stack)) {
      // A mounted router: the same prefix checks and trimming as the router's own.
      const lp = m.path
      if (lp.length > 0 && (path.slice(0, lp.length) !== lp || (path.length > lp.length && path[lp.length] !== '/'))) continue
      const rest = path.slice(lp.length)
      const below: WalkPosition = {
        path: rest.startsWith('/') ? rest : `/${rest}`,
        prefix: joinPattern(prefix, m.pattern),
        parentIgnoresCase: ignoresCase,
        depth: at.depth + 1,
      }
      walk(handle as RouterLike, below, run)
    } else if (typeof handle === 'function' && handle.name === 'mounted_app') {
      // A sub-application's routes cannot be seen from here.
      steps.push({ kind: 'opaque' })
    }
  }
}

/**
 * The mount paths of `app` and the apps above it, joined (`''` for the top app), as declared;
 * undefined when one is not plain text (a parameter, a wildcard, a regular expression, an array).
 */
function literalMountPrefix(app: unknown): string | undefined {
  const mounts: string[] = []
  for (let a: unknown = app; isObject(a) && a.parent !== undefined; a = a.parent) {
    if (mounts.length > MAX_DEPTH || typeof a.mountpath !== 'string' || !LITERAL_MOUNT.test(a.mountpath)) return undefined
    if (a.mountpath !== '/') mounts.unshift(a.mountpath.replace(/\/+$/, ''))
  }
  return mounts.join('')
}

/** `rawPath` relative to `app` (a sub-app sees the path below its mount path), and that mount path. */
function appRelative(app: AppLike, rawPath: string): { path: string; prefix: string } | undefined {
  const prefix = literalMountPrefix(app)
  if (prefix === undefined) return undefined
  if (prefix === '') return { path: rawPath, prefix: '' }
  const head = rawPath.slice(0, prefix.length)
  if (head.toLowerCase() !== prefix.toLowerCase() || (rawPath.length > prefix.length && rawPath[prefix.length] !== '/')) return undefined
  return { path: rawPath.slice(prefix.length) || '/', prefix }
}

/**
 * The routes the request can reach after `self`, in dispatch order, and the first layer after
 * `self` it reaches that names it (a route, or one that cannot be seen into).
 */
function resolveRoutes(req: ExpressRequestLike, rawPath: string, self: Middleware): { first: Step | undefined; routes: Map<object, RouteFound> } | undefined {
  const app = req.app as AppLike | undefined
  if (!isObject(app) || !isObject(app.router) || !Array.isArray(app.router.stack)) return undefined
  const relative = appRelative(app, rawPath)
  if (relative === undefined) return undefined
  const steps: Step[] = []
  const start: WalkPosition = { path: relative.path, prefix: relative.prefix, parentIgnoresCase: false, depth: 0 }
  walk(app.router, start, { method: req.method, self, steps, budget: { layers: MAX_LAYERS } })
  const selfAt = steps.findIndex((s) => s.kind === 'self')
  const ahead = steps.slice(selfAt + 1)
  const routes = new Map<object, RouteFound>()
  for (const s of ahead) if (s.kind === 'route') routes.set(s.route, s.found)
  return { first: ahead.find((s) => s.kind !== 'self'), routes }
}

/**
 * The request target the router routes: `req.baseUrl` + `req.url`, which a middleware before
 * the gate may have rewritten (a locale prefix stripped, say), so the gate judges the path
 * whose routes run. `req.originalUrl` when both name the same path and query (the router adds
 * a `/` to an empty `req.url` below a mount path).
 */
function routedTarget(req: ExpressRequestLike): string {
  const url = req.url
  if (typeof url !== 'string') return req.originalUrl
  const base = req.baseUrl ?? ''
  // An absolute-form `req.url` (`http://host/rest`) keeps its scheme and host ahead of the mount path.
  const protohost = url.startsWith('/') ? '' : absoluteFormPrefix(url)
  const target = `${protohost}${base}${url.slice(protohost.length)}`
  if (target === req.originalUrl) return target
  const routed = canonicalPath(target)
  const received = canonicalPath(req.originalUrl)
  const same = routed.ok && received.ok && routed.path === received.path && splitTarget(target).query === splitTarget(req.originalUrl).query
  return same ? req.originalUrl : target
}

/**
 * A route that is about to run but was not found by the walk (in a sub-application, say): the
 * canonical mount path joined with the route's path.
 */
function dispatchRoute(req: ExpressRequestLike, route: RouteLike, caseInsensitive: boolean): RouteFound {
  // The mount path as the client spelled it (`/Users`): folded as the router matched it.
  const base = canonicalPath(req.baseUrl === undefined || req.baseUrl === '' ? '/' : req.baseUrl, { foldCase: caseInsensitive })
  const pattern = base.ok ? joinPattern(base.path, route.path) : undefined
  return { pattern, caseInsensitive, exclusionPattern: declaredPattern(req, route, base.ok ? base.path : undefined, caseInsensitive) }
}

/**
 * The route's pattern from the declared mount paths, for the exclusion check: null unless
 * those mount paths are plain text and account for the whole of `req.baseUrl` (`mountedAt`,
 * canonical), so a mount parameter or a router mounted out of the walk's sight is gated.
 */
function declaredPattern(req: ExpressRequestLike, route: RouteLike, mountedAt: string | undefined, caseInsensitive: boolean): string | null {
  const prefix = literalMountPrefix(req.app)
  if (prefix === undefined || mountedAt === undefined) return null
  const declared = canonicalPath(prefix === '' ? '/' : prefix, { foldCase: caseInsensitive })
  if (!declared.ok || declared.path !== mountedAt) return null
  return joinPattern(prefix === '' ? '/' : prefix, route.path) ?? null
}

/** The route pattern the exclusion check reads for `serving` (null: none it can trust). */
function exclusionRoute(serving: RouteFound | undefined): string | null {
  if (serving === undefined) return null
  return serving.exclusionPattern !== undefined ? serving.exclusionPattern : (serving.pattern ?? null)
}

/** What the gate judges for `route` at `target`: its action and resource, as `judgedAs` gives them. */
function judgedRoute(info: HttpRequestInfo, method: string, target: string, found: RouteFound): Judgement | undefined {
  const req: HttpRequestInfo = { ...info, method, path: target }
  if (found.pattern !== undefined) {
    req.route = found.pattern
    req.caseInsensitive = found.caseInsensitive
  }
  const j = judgedAs(req)
  return 'refusal' in j ? undefined : j
}

/**
 * Stops a route that was not judged: express assigns `req.route` once when it picks a route and
 * again inside the route's dispatch, right before the first handler; a throw there reaches
 * `next(err)` and the handlers do not run. The route must be judged as the gate judged the
 * request, action and resource: with the method as it is then (a method override after the
 * gate, `X-HTTP-Method-Override`, changes which route runs) and the path it is routed on (a
 * rewrite of `req.url` after the gate). A request the gate let pass ungated (`judged`
 * undefined: a read, an excluded path) is stopped if by then it would be gated.
 */
function guardRoutes(
  gate: Gate,
  req: ExpressRequestLike,
  judged: Judgement | undefined,
  routes: Map<object, RouteFound>,
  info: HttpRequestInfo,
  appIgnoresCase: boolean,
  gatedNow: (method: string, serving: RouteFound) => boolean,
): void {
  // The route already set (an earlier route that called `next()`, or the route this middleware
  // runs in) stays readable.
  let current: unknown = req.route
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
        if (!gatedNow(req.method, routes.get(route) ?? dispatchRoute(req, route as RouteLike, appIgnoresCase))) return
        reason = `the request was let through ungated as ${info.method} and reached a route as ${req.method}`
      } else {
        const found = routes.get(route) ?? dispatchRoute(req, route as RouteLike, appIgnoresCase)
        const atDispatch = judgedRoute(info, req.method, routedTarget(req), found)
        if (sameJudgement(judged, info, atDispatch)) return
        const as = atDispatch === undefined ? 'an unknown action' : `'${atDispatch.actionName}' on '${atDispatch.resource}'`
        reason = `the request reached a route judged as ${as}, not '${judged.actionName}' on '${judged.resource}' as the gate judged it`
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
    const appIgnoresCase = !(isObject(app) && typeof app.enabled === 'function' && app.enabled('case sensitive routing') === true)
    const target = routedTarget(req)
    const canon = canonicalPath(target)
    const resolved = canon.ok && mw.gatesMethod(req.method) ? resolveRoutes(req, canon.raw, self) : undefined
    const running = inRoute(req.route, self)
    // The route that serves the request: this route when the middleware runs in one, else the
    // first route the walk reaches.
    let found: RouteFound | undefined
    if (running) {
      const route = req.route as RouteLike
      found = resolved?.routes.get(route) ?? dispatchRoute(req, route, appIgnoresCase)
    } else if (resolved?.first?.kind === 'route') {
      found = resolved.first.found
    }
    // An excluded path passes only to a route under it; with no route known it is gated.
    const gatedNow = (method: string, serving: RouteFound | undefined): boolean =>
      mw.shouldGate(method, target, { caseInsensitive: serving?.caseInsensitive ?? appIgnoresCase, route: exclusionRoute(serving) })
    const routes = running ? undefined : (resolved?.routes ?? new Map<object, RouteFound>())
    if (!gatedNow(req.method, found)) {
      // Guarded still: a method override later in the chain may turn it into a gated request,
      // and another route than the one found may serve it.
      const info: HttpRequestInfo = { method: req.method, path: target, caseInsensitive: appIgnoresCase, headers: req.headers }
      guardRoutes(gate, req, undefined, routes ?? new Map(), info, appIgnoresCase, gatedNow)
      next()
      return
    }
    // The request's fields as `HttpKavachMiddleware` reads them: never from `Object.prototype`
    // (express.json() leaves `body` unset on a request that has none).
    const { headers, body, ip } = inheritedFields(req, ['headers', 'body', 'ip']) as Partial<ExpressRequestLike>
    // Express's request is node's: its HTTP version tells whether a body can arrive unannounced.
    const info: HttpRequestInfo = { method: req.method, path: target, caseInsensitive: appIgnoresCase, headers: headers!, body, ...transportOf(req) }
    if (ip !== undefined) info.ip = ip
    if (found?.pattern !== undefined) {
      info.route = found.pattern
      info.caseInsensitive = found.caseInsensitive
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
          if (!('refusal' in judged)) guardRoutes(gate, req, judged, routes, info, appIgnoresCase, gatedNow)
        }
        next()
      },
      (err: unknown) => next(opaqueError(err)),
    )
  }
  return self
}
