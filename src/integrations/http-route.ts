// How the HTTP middleware names a request: the canonical path of its target, the action
// (`<resource>.<verb>`) from the route the framework matched or else from that path, and the
// resource. Kept apart from the middleware (http.ts) because the express adapter asks the same
// questions of routes it finds in the app's router (express.ts).

import { objectArgument, optionalObjectArgument, stringArgument } from '../arguments.js'
import { inheritedFields } from '../options.js'
import type { HttpRequestInfo } from './http.js'

const VERBS: Record<string, string> = { GET: 'read', HEAD: 'read', POST: 'create', PUT: 'update', PATCH: 'update', DELETE: 'delete' }
const VERSION = /^v\d+$/i
const DIGITS = /^\d+$/

// --- canonical path ---

/** The path a request target stands for, or why it stands for none. */
export type CanonicalPath =
  | {
      ok: true
      /** `/` + the decoded segments joined by `/` (ASCII lower-cased with `foldCase`). */
      path: string
      /** The decoded segments, never folded. */
      segments: string[]
      /** The path as received (absolute form reduced, query cut), not decoded. */
      raw: string
      /** True when `raw` needed no decoding and had no empty segment but a trailing one. */
      clean: boolean
    }
  | { ok: false; reason: string }

/** `scheme://authority` at the start of an absolute-form target. */
const ABSOLUTE_FORM = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/([^/?#]*)/
/** `host[:port]` or `[ipv6][:port]`: no user info, no percent-encoding. */
const AUTHORITY = /^(?:[A-Za-z0-9._~-]+|\[[0-9A-Fa-f:.]+\])(?::\d*)?$/
const CONTROL = /[\u0000-\u001f\u007f]/
const ASCII_UPPER = /[A-Z]/g

function foldAscii(s: string): string {
  return s.replace(ASCII_UPPER, (c) => c.toLowerCase())
}

/**
 * A request target cut at its first `?` or `#`: the path (with the scheme and authority of an
 * absolute-form target) and the query (`?` or `#` included; empty when there is none).
 */
export function splitTarget(target: string): { path: string; query: string } {
  const q = target.search(/[?#]/)
  return q < 0 ? { path: target, query: '' } : { path: target.slice(0, q), query: target.slice(q) }
}

/** `scheme://authority` at the start of an absolute-form target, or `''`. */
export function absoluteFormPrefix(target: string): string {
  return ABSOLUTE_FORM.exec(target)?.[0] ?? ''
}

/**
 * The canonical path of a request target: an absolute-form target (`http://host/a`) reduced
 * to its path, the query and fragment cut, each segment percent-decoded once, empty segments
 * dropped, and, with `foldCase`, ASCII letters lower-cased. A target that cannot be read as
 * one path is refused rather than guessed at: malformed percent-encoding, an encoded `/` or
 * `\`, a backslash, a control character, a `.` or `..` segment (servers route those
 * literally, so resolving them would judge a different path than the one routed), or a
 * target that is neither a path nor an absolute URL with a plain `host[:port]`.
 */
export function canonicalPath(target: string, options: { foldCase?: boolean } = {}): CanonicalPath {
  let rest = stringArgument('canonicalPath', 'target', target)
  options = optionalObjectArgument('canonicalPath', 'options', options) ?? {}
  if (!rest.startsWith('/')) {
    const m = ABSOLUTE_FORM.exec(rest)
    if (m === null) return { ok: false, reason: 'the request target is neither a path nor an absolute URL' }
    if (!AUTHORITY.test(m[1]!)) return { ok: false, reason: 'the request target has an authority that is not host[:port]' }
    rest = rest.slice(m[0].length)
    if (!rest.startsWith('/')) rest = `/${rest}`
  }
  const raw = splitTarget(rest).path
  if (raw.includes('\\')) return { ok: false, reason: 'the request path contains a backslash' }
  const parts = raw.split('/').slice(1)
  const segments: string[] = []
  let clean = true
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!
    if (part === '') {
      if (i !== parts.length - 1) clean = false
      continue
    }
    let s = part
    if (part.includes('%')) {
      clean = false
      try {
        s = decodeURIComponent(part)
      } catch {
        return { ok: false, reason: 'the request path has malformed percent-encoding' }
      }
      if (s.includes('/') || s.includes('\\')) return { ok: false, reason: "the request path has an encoded '/' or '\\' in a segment" }
    }
    if (CONTROL.test(s)) return { ok: false, reason: 'the request path contains a control character' }
    if (s === '.' || s === '..') return { ok: false, reason: "the request path has a '.' or '..' segment" }
    segments.push(s)
  }
  const joined = `/${segments.join('/')}`
  return { ok: true, path: options.foldCase === true ? foldAscii(joined) : joined, segments, raw, clean }
}

// --- action names ---

/** A route pattern segment that stands for a value: `:id`, `*`, `*rest`, `:a-:b`, `:id(\\d+)`. */
function isParameterSegment(s: string): boolean {
  return s.includes(':') || s.includes('*')
}

/** Optional groups (`{/:id}`, `{.:ext}`): parts of a route a client may leave out. */
function withoutOptionalGroups(pattern: string): string {
  let out = pattern
  for (let prev = ''; prev !== out; ) {
    prev = out
    out = out.replace(/\{[^{}]*\}/g, '')
  }
  return out
}

/** A literal colon in a route pattern: fastify's `::`, express's `\\:`. */
const ESCAPED_COLON = /::|\\:/
const ESCAPED_COLONS = /::|\\:/g

/** Whether a route pattern's `text` has a parameter or wildcard once its literal colons are set aside. */
function hasParameter(text: string): boolean {
  return isParameterSegment(text.replace(ESCAPED_COLONS, ''))
}

/**
 * The first literal colon in a route pattern segment (its index and length), leaving aside
 * those inside a parenthesised regular expression (`:t(^\\d+\\:\\d+$)`, `:addr(^[0-9a-f]+::1$)`),
 * which the router reads as part of the expression. Parentheses that do not pair up are read
 * as text.
 */
function firstLiteralColon(segment: string): { index: number; length: number } | undefined {
  let depth = 0
  let found: { index: number; length: number } | undefined
  for (let i = 0; i < segment.length; i++) {
    const c = segment[i]
    const colon = c === '\\' ? segment[i + 1] === ':' : c === ':' && segment[i + 1] === ':'
    if (colon && depth === 0 && found === undefined) found = { index: i, length: 2 }
    if (c === '\\' || colon) i++
    else if (c === '(') depth++
    else if (c === ')' && depth > 0) depth--
  }
  if (depth === 0) return found
  const m = ESCAPED_COLON.exec(segment)
  return m === null ? undefined : { index: m.index, length: m[0].length }
}

/**
 * A route pattern segment cut at its first literal colon: the part before, and the custom
 * method after it (`:id::purge` -> `:id` and `purge`; `admin\\:shutdown` -> `admin` and
 * `shutdown`). No custom method when there is no literal colon, when what follows it holds
 * a parameter or wildcard, or when the part before is a parameter carrying a regular
 * expression (`:a(^[a-z]+$)::run`: where the expression ends is the router's reading).
 */
function customMethod(segment: string): { head: string; custom: string | undefined } {
  const at = firstLiteralColon(segment)
  if (at === undefined) return { head: segment, custom: undefined }
  const head = segment.slice(0, at.index)
  if (head.includes('(') && hasParameter(head)) return { head: segment, custom: undefined }
  const rest = segment.slice(at.index + at.length)
  const custom = rest === '' || hasParameter(rest) ? undefined : rest.replace(ESCAPED_COLONS, ':')
  return { head, custom }
}

/** Whether a segment (before any literal colon) can name the resource. */
function namesResource(s: string): boolean {
  return s !== '' && !isParameterSegment(s) && s.toLowerCase() !== 'api' && !VERSION.test(s) && !DIGITS.test(s)
}

/**
 * `<resource>.<verb>` from a route pattern (`/users/:id`) or a canonical path (`/users/42`):
 * the last segment that is not a route parameter or wildcard, not inside an optional `{...}`
 * group, not `api`, a version (`v1`) or all digits; the verb is GET and HEAD read, POST
 * create, PUT/PATCH update, DELETE delete, other methods lower-cased.
 * `POST /api/v1/refunds` -> `refunds.create`, `DELETE /users/:id` and `DELETE /users/42` ->
 * `users.delete`, `GET /` -> `root.read`. A path is read in canonical form first, so
 * `/%75sers/42` is `users.delete` too; case is kept (`/USERS/42` is `USERS.delete`: servers
 * differ on case, see `judgedAs`).
 *
 * A literal colon (fastify `::`, express `\\:`) starts a custom method, named between the
 * resource and the verb: `POST /v1/users/:id::purge` -> `users.purge.create`, `POST
 * /admin::shutdown` -> `admin.shutdown.create`. The custom method comes from the last segment
 * that has one, at or after the segment naming the resource. An unescaped `:` starts a route
 * parameter, so a path given here has its colons escaped first (`judgedAs` does).
 */
export function deriveActionName(method: string, path: string): string {
  stringArgument('deriveActionName', 'method', method)
  stringArgument('deriveActionName', 'path', path)
  const canon = canonicalPath(path)
  const segments = withoutOptionalGroups(canon.ok ? canon.path : splitTarget(path).path)
    .split('/')
    .filter((s) => s.length > 0)
  let resource = 'root'
  let custom: string | undefined
  for (let i = segments.length - 1; i >= 0; i--) {
    const cut = customMethod(segments[i]!)
    custom ??= cut.custom
    if (namesResource(cut.head)) {
      resource = cut.head
      break
    }
  }
  const m = method.toUpperCase()
  const verb = VERBS[m] ?? m.toLowerCase()
  return custom === undefined ? `${resource}.${verb}` : `${resource}.${custom}.${verb}`
}

/** A canonical path as a route pattern that matches only it: each `:` a literal colon. */
function pathAsPattern(path: string): string {
  return path.replace(/:/g, '::')
}

/** A route segment that matches only itself (no parameter, wildcard, group or regex syntax). */
const LITERAL_SEGMENT = /^[^:*{}()?+\\]+$/
/** A route segment that is one whole parameter: `:id`. */
const PARAM_SEGMENT = /^:[A-Za-z_$][\w$]*$/

/**
 * Whether a router that ignores case can match `client` to the literal `literal`: fastify
 * (find-my-way) lower-cases the decoded path with the full Unicode `toLowerCase`, so the KELVIN
 * SIGN in `/\u212Aeys/1` reaches `/keys/:id`; a case-insensitive regular expression (express)
 * compares upper-cased characters.
 */
function sameIgnoringCase(literal: string, client: string): boolean {
  return literal.toLowerCase() === client.toLowerCase() || literal.toUpperCase() === client.toUpperCase()
}

/**
 * The resource for a request that matched `route`: its decoded segments, those that line up
 * with a literal segment of the route spelled as the route spells it (so `/ADMIN/users/1`,
 * routed case-insensitively to `/admin/users/:id`, is `/admin/users/1`; case is compared as
 * the router folds it, `sameIgnoringCase`). Alignment stops at the first segment it cannot
 * follow (a wildcard, an optional group).
 */
function resourceFor(segments: readonly string[], route: string, caseInsensitive: boolean): string {
  const pattern = route.split('/').filter((s) => s.length > 0)
  const out: string[] = []
  for (let i = 0; i < segments.length && i < pattern.length; i++) {
    const p = pattern[i]!
    const s = segments[i]!
    if (LITERAL_SEGMENT.test(p) && (p === s || (caseInsensitive && sameIgnoringCase(p, s)))) out.push(p)
    else if (PARAM_SEGMENT.test(p)) out.push(s)
    else break
  }
  return `/${[...out, ...segments.slice(out.length)].join('/')}`
}

/**
 * The whole segments of a route pattern ahead of its first optional `{...}` group: those every
 * path it serves starts with (`/live{/}` -> `live`; `/live{s}` -> none, the group ends the
 * segment it starts in).
 */
function segmentsBeforeOptionalGroup(route: string): string[] {
  const open = route.indexOf('{')
  const head = open < 0 ? route : route.slice(0, open)
  const segments = head.split('/')
  if (open >= 0 && route[open + 1] !== '/') segments.pop()
  return segments.filter((s) => s.length > 0)
}

/**
 * Whether every path `route` (a route pattern) serves lies under the path of `entry` (its
 * segments): the route's first segments, ahead of any optional group, are literals spelling the
 * entry's (ASCII case folded with `caseInsensitive`), so `/live{/}` is under `/live`. A
 * parameter, wildcard, regular expression or optional group there may stand for anything, so
 * such a route is not under it (`{/:tenant}/health/x` is not under `/health`).
 */
export function routeUnder(route: string, entry: readonly string[], caseInsensitive: boolean): boolean {
  const pattern = segmentsBeforeOptionalGroup(route)
  if (pattern.length < entry.length) return false
  return entry.every((e, i) => {
    const p = pattern[i]!
    return LITERAL_SEGMENT.test(p) && (p === e || (caseInsensitive && foldAscii(p) === foldAscii(e)))
  })
}

/** What the gate judges a request as: its action and its resource. */
export interface Judgement {
  actionName: string
  resource: string
}

/**
 * The action and resource the gate judges for a request, or why its target is refused. With
 * `route` (the pattern the server matched), the action is `deriveActionName` of the pattern
 * and the resource the canonical path with the route's literal segments spelled as the route
 * spells them. Without it, both come from the canonical path, ASCII lower-cased when the
 * server routes case-insensitively.
 */
export function judgedAs(req: Pick<HttpRequestInfo, 'method' | 'path' | 'route' | 'caseInsensitive'>): Judgement | { refusal: string } {
  const { method, path, route, caseInsensitive } = requestFields('judgedAs', req, JUDGED_FIELDS)
  const ci = caseInsensitive === true
  const canon = canonicalPath(path, { foldCase: ci })
  if (!canon.ok) return { refusal: canon.reason }
  if (route !== undefined) {
    return { actionName: deriveActionName(method, route), resource: resourceFor(canon.segments, route, ci) }
  }
  return { actionName: deriveActionName(method, pathAsPattern(canon.path)), resource: canon.path }
}

/**
 * Whether a route judged as `route` (undefined: as nothing) runs as the gate judged the
 * request: `judged`, from `info`. Judged without a route, the resource is the canonical path,
 * lower-cased where the server ignores case, so the route's resource must name that path.
 */
export function sameJudgement(judged: Judgement, info: Pick<HttpRequestInfo, 'route' | 'caseInsensitive'>, route: Judgement | undefined): boolean {
  if (route === undefined || route.actionName !== judged.actionName) return false
  const given = inheritedFields(info, ['route', 'caseInsensitive'])
  const folds = given.route === undefined && given.caseInsensitive === true
  return (folds ? foldAscii(route.resource) : route.resource) === judged.resource
}

/** The fields of a request that the HTTP functions read. */
const REQUEST_FIELDS: readonly string[] = [
  'method',
  'path',
  'route',
  'caseInsensitive',
  'headers',
  'body',
  'ip',
  'currentGeo',
  'originGeo',
  'httpVersionMajor',
  'endAfterHeaders',
] satisfies readonly (keyof HttpRequestInfo)[]

/** The fields of a request that `judgedAs` reads. */
const JUDGED_FIELDS: readonly string[] = ['method', 'path', 'route', 'caseInsensitive'] satisfies readonly (keyof HttpRequestInfo)[]

/**
 * The `known` fields of `req` (by default all that the HTTP functions read) in a record that
 * is then judged: each read once, through `req`'s prototypes (a class instance,
 * `Object.create(defaults)`) but never from `Object.prototype` (`inheritedFields`), so a
 * polluted `Object.prototype.route` names no route for a request that matched none. Throws
 * `InvalidArgumentError` unless `req` is an object with a string `method` and `path`, and a
 * string `route` if any.
 */
export function requestFields(where: string, req: unknown, known: readonly string[] = REQUEST_FIELDS): HttpRequestInfo {
  const fields = inheritedFields(objectArgument(where, 'request', req), known) as Partial<HttpRequestInfo>
  stringArgument(where, 'request.method', fields.method)
  stringArgument(where, 'request.path', fields.path)
  if (fields.route !== undefined) stringArgument(where, 'request.route', fields.route)
  return fields as HttpRequestInfo
}
