// HTTP middleware core with the earlier Node SDK's names and defaults: which requests are
// gated, the action a request maps to, and its verdict. The express and fastify adapters
// (express.ts, fastify.ts) answer with it.

import { type EvaluateOptions, type GeoLocationInput, PRINCIPAL_KINDS, type PrincipalKind } from '../context.js'
import { InvalidArgumentError } from '../errors.js'
import type { Gate } from '../gate.js'
import type { Verdict } from '../native.js'
import { refuseVerdict, scalarFields } from './refusal.js'

export type HttpHeaders = Record<string, string | string[] | undefined>

/** One request as the middleware sees it. */
export interface HttpRequestInfo {
  method: string
  /** The path without the query string. */
  path: string
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

export interface HttpMiddlewareOptions {
  /** Only POST, PUT, PATCH, DELETE (and other non-read methods) are gated. @default true */
  gateMutationsOnly?: boolean
  /** Path prefixes that pass ungated. @default ['/health', '/ready', '/metrics'] */
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
   */
  identify?: (req: HttpRequestInfo) => HttpPrincipal | undefined | Promise<HttpPrincipal | undefined>
}

const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])
const VERBS: Record<string, string> = { GET: 'read', POST: 'create', PUT: 'update', PATCH: 'update', DELETE: 'delete' }
const VERSION = /^v\d+$/i
const DIGITS = /^\d+$/

/**
 * `<resource>.<verb>`: the last path segment that is not `api`, a version (`v1`) or all digits;
 * the verb is GET read, POST create, PUT/PATCH update, DELETE delete, other methods lower-cased.
 * `POST /api/v1/refunds` -> `refunds.create`, `DELETE /users/42` -> `users.delete`, `GET /` -> `root.read`.
 */
export function deriveActionName(method: string, path: string): string {
  const segments = path.split('?')[0]!.split('/').filter((s) => s.length > 0)
  let resource = 'root'
  for (let i = segments.length - 1; i >= 0; i--) {
    const s = segments[i]!
    if (s.toLowerCase() !== 'api' && !VERSION.test(s) && !DIGITS.test(s)) {
      resource = s
      break
    }
  }
  const m = method.toUpperCase()
  return `${resource}.${VERBS[m] ?? m.toLowerCase()}`
}

function header(headers: HttpHeaders, name: string): string | undefined {
  const v = headers[name]
  const first = Array.isArray(v) ? v[0] : v
  return first === undefined || first.trim() === '' ? undefined : first.trim()
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

  constructor(gate: Gate, options: HttpMiddlewareOptions = {}) {
    this.gate = gate
    this.gateMutationsOnly = options.gateMutationsOnly ?? true
    this.excludedPaths = [...(options.excludedPaths ?? ['/health', '/ready', '/metrics'])]
    this.principalHeader = (options.principalHeader ?? 'x-principal-id').toLowerCase()
    this.rolesHeader = (options.rolesHeader ?? 'x-roles').toLowerCase()
    this.kindHeader = (options.kindHeader ?? 'x-principal-kind').toLowerCase()
    this.#geoResolver = options.geoResolver
    this.#identify = options.identify
  }

  /** False for excluded paths (prefix match) and, with `gateMutationsOnly`, for GET/HEAD/OPTIONS. */
  shouldGate(method: string, path: string): boolean {
    if (this.excludedPaths.some((prefix) => path.startsWith(prefix))) return false
    return !(this.gateMutationsOnly && READ_METHODS.has(method.toUpperCase()))
  }

  /** The verdict for `req` (synchronous: in-process gates, and a synchronous `identify`). */
  evaluate(req: HttpRequestInfo): Verdict {
    const who = this.#identify?.(req)
    if (who instanceof Promise) {
      throw new InvalidArgumentError('identify() returned a Promise: use evaluateAsync (express and fastify do)')
    }
    const ctx = this.#context(req, who)
    return 'kind' in ctx ? ctx : this.gate.evaluate(ctx)
  }

  /** The verdict for `req`, with any gate and an async `identify`. */
  async evaluateAsync(req: HttpRequestInfo): Promise<Verdict> {
    const who = await this.#identify?.(req)
    const ctx = this.#context(req, who)
    return 'kind' in ctx ? ctx : this.gate.evaluateAsync(ctx)
  }

  /** The gate context, or a refusal when a header the client sent cannot be one. */
  #context(req: HttpRequestInfo, who: HttpPrincipal | undefined): EvaluateOptions | Verdict {
    const ctx: EvaluateOptions = {
      principalId: 'anonymous',
      principalKind: 'user',
      actionName: deriveActionName(req.method, req.path),
      resource: req.path,
      params: scalarFields(req.body),
    }
    if (req.ip !== undefined) ctx.ip = req.ip
    if (this.#identify !== undefined) {
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
        return refuseVerdict('INVALID_CONTEXT', 'http', `header '${this.kindHeader}' must be one of ${PRINCIPAL_KINDS.join(', ')}, got '${kind}'`)
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
    return ctx
  }
}

/** The answer to a request the gate did not permit (undefined for a Permit). */
export function httpRefusal(v: Verdict): { status: 401 | 403; body: Record<string, string> } | undefined {
  if (v.isPermit) return undefined
  if (v.isInvalidate) return { status: 401, body: { error: 'session_invalidated', reason: v.reason ?? 'session invalidated' } }
  return { status: 403, body: { error: 'forbidden', code: v.code ?? 'NO_POLICY_MATCH', reason: v.reason ?? 'refused' } }
}

/** The path part of a request URL (no query string, no fragment). */
export function pathOf(url: string): string {
  const end = url.search(/[?#]/)
  return end < 0 ? url : url.slice(0, end)
}
