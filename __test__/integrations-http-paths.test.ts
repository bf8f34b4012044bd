// HTTP middleware against real express 5 and fastify 5 servers, over raw HTTP (node:http sends
// the request target exactly as written: absolute-form, percent-encoding, dot segments).
// The invariant: whatever the spelling of a path, a request that reaches the handler of
// `DELETE /users/:id` or of the `/admin` routes was judged as that route; `excludedPaths`
// covers a path and its sub-paths only; refusal bodies carry no server internals.

import { rmSync } from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Server } from 'node:http'

import express from 'express'
import fc from 'fast-check'
import Fastify, { type FastifyServerOptions } from 'fastify'
import qs from 'qs'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'

import { Gate, RedisRateLimitStore, createExpressMiddleware, createFastifyHook, deriveActionName, type EvaluateOptions, type HttpMiddlewareOptions } from '../index'
import { canonicalPath, type HttpRefusalEvent } from '../src/integrations/http'
import { RedisProcess, uniquePrefix } from './fixtures/redis-helpers'

const STAFF = { 'x-principal-id': 'eve', 'x-roles': 'staff' }

const STAFF_DO_ALL = { name: 'staff_do_all', effect: 'permit' as const, conditions: [{ identity_role: 'staff' }] }
const REFUSE_USER_DELETES = { name: 'nobody_deletes_users', effect: 'refuse' as const, priority: 10, conditions: [{ action: 'users.delete' }] }
const REFUSE_ADMIN_AREA = { name: 'admin_area_off_limits', effect: 'refuse' as const, priority: 10, conditions: [{ resource: '/admin/*' }] }

interface Answer {
  status: number
  body: string
  json: Record<string, unknown> | undefined
}

/** One request with `target` as the request-target, byte for byte. */
function send(port: number, method: string, target: string, headers: Record<string, string> = {}, body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: target, headers: { connection: 'close', ...headers }, agent: false }, (res) => {
      let data = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => (data += chunk))
      res.on('end', () => {
        let json: Record<string, unknown> | undefined
        try {
          json = JSON.parse(data) as Record<string, unknown>
        } catch {
          json = undefined
        }
        resolve({ status: res.statusCode ?? 0, body: data, json })
      })
    })
    req.on('error', reject)
    req.end(body)
  })
}

interface App {
  port: number
  /** One entry per handler run: `users <id>`, `admin <id>` or the excluded route's path. */
  ran: string[]
  close(): Promise<void>
}

const EXCLUSION_ROUTES = ['/health', '/health/deep', '/healthcare/patients/:id', '/readyz-config', '/metrics-admin/reset']

/**
 * `DELETE /users/:id` (after a `/users/me` route that passes requests on with `next()`), an
 * `/admin` router with `DELETE /reports/:id`, and routes whose paths look like the default
 * exclusions. `placement: 'route'` puts the middleware in each route instead of `app.use`.
 */
async function expressApp(gate: Gate, options: HttpMiddlewareOptions = {}, placement: 'global' | 'route' = 'global'): Promise<App> {
  const ran: string[] = []
  const app = express()
  app.use(express.json())
  const kavach = createExpressMiddleware(gate, options)
  const pass = (_req: express.Request, _res: express.Response, next: express.NextFunction): void => next()
  const before = placement === 'route' ? kavach : pass
  if (placement === 'global') app.use(kavach)
  app.delete('/users/me', before, (_req, _res, next) => next())
  app.delete('/users/:id', before, (req, res) => {
    ran.push(`users ${req.params.id}`)
    res.json({ deleted: req.params.id })
  })
  const admin = express.Router()
  admin.delete('/reports/:id', before, (req, res) => {
    ran.push(`admin ${req.params.id}`)
    res.json({ deleted: req.params.id })
  })
  app.use('/admin', admin)
  for (const p of EXCLUSION_ROUTES) {
    app.delete(p, before, (_req, res) => {
      ran.push(p)
      res.json({ ok: true })
    })
  }
  app.use((err: { status?: unknown; code?: unknown }, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    res.status(typeof err.status === 'number' ? err.status : 500).json({ error: 'error-handler', code: err.code })
  })
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s))
  })
  const { port } = server.address() as AddressInfo
  return { port, ran, close: () => new Promise((r) => server.close(() => r())) }
}

/** The same routes on fastify; the admin routes under a `/admin` plugin prefix. */
async function fastifyApp(
  gate: Gate,
  options: HttpMiddlewareOptions = {},
  hook: 'preHandler' | 'onRequest' = 'preHandler',
  fastifyOptions: FastifyServerOptions = {},
): Promise<App> {
  const ran: string[] = []
  const app = Fastify(fastifyOptions)
  app.addHook(hook, createFastifyHook(gate, options))
  app.delete<{ Params: { id: string } }>('/users/:id', async (request) => {
    ran.push(`users ${request.params.id}`)
    return { deleted: request.params.id }
  })
  await app.register(
    async (child) => {
      child.delete<{ Params: { id: string } }>('/reports/:id', async (request) => {
        ran.push(`admin ${request.params.id}`)
        return { deleted: request.params.id }
      })
    },
    { prefix: '/admin' },
  )
  for (const p of EXCLUSION_ROUTES) {
    app.delete(p, async () => {
      ran.push(p)
      return { ok: true }
    })
  }
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as AddressInfo
  return { port, ran, close: () => app.close() }
}

/** Spellings of `DELETE /users/:id`: case, percent-encoding, a trailing slash, absolute-form, a non-numeric id. */
const userTargets = (port: number): string[] => [
  '/users/42',
  '/USERS/42',
  '/Users/42/',
  '/%75sers/42',
  '/users/%34%32',
  '/users/42?x=1',
  '/users/sessions',
  '/USERS/sessions',
  '/users/%73essions',
  `http://127.0.0.1:${port}/users/42`,
  `HTTP://127.0.0.1:${port}/Users/sessions`,
]

/** Spellings of `DELETE /admin/reports/:id`. */
const adminTargets = (port: number): string[] => ['/admin/reports/1', '/ADMIN/reports/1', '/Admin/Reports/1', '/%61dmin/reports/1', '/admin/%72eports/1', `http://127.0.0.1:${port}/admin/reports/1`]

// Generated request targets: the routes' paths spelled in other ways (case, percent-encoding),
// with pieces slipped in (dot and empty segments, encoded separators, matrix parameters, other
// names), joined by slashes, doubled slashes or backslashes, with an absolute-form head and a
// query, fragment or trailing piece. Seeded, so a failing target can be replayed; PATHS_SEED
// and PATHS_RUNS run other and more targets.
const USERS = ['users', 'USERS', 'Users', '%75sers', '%55SERS']
const ADMIN = ['admin', 'ADMIN', 'Admin', '%61dmin']
const REPORTS = ['reports', 'Reports', '%72eports', 'REPORTS']
const IDS = ['42', '%34%32', 'sessions', 'me', '%6De', '%25', 'a%2Fb', '%C3%BC', 'x.y', '*', '~']
const JUNK = ['.', '..', '%2e', '%2E%2e', '', '%2F', '%5C', '%00', '%', '%zz', ';x', 'health', '%68ealth', 'deep', 'api', 'v1']
const TEMPLATES = [[USERS, IDS], [USERS, IDS], [ADMIN, REPORTS, IDS], [ADMIN, REPORTS, IDS], [USERS, IDS, IDS], [JUNK, USERS, IDS], [ADMIN, IDS]]
const TAILS = ['', '', '', '', '/', '//', '?x=1', '?/admin/reports/1', '#f', ';', '%20', '/.', '/..']
const generatedTargets = (port: number): string[] => {
  const heads = ['', '', '', `http://127.0.0.1:${port}`, `HTTP://localhost:${port}`, 'http://example.com']
  const shape = fc.record({
    head: fc.nat(),
    template: fc.nat(),
    picks: fc.array(fc.nat(), { minLength: 3, maxLength: 3 }),
    junk: fc.record({ at: fc.nat(), piece: fc.nat(), present: fc.nat({ max: 3 }) }),
    separators: fc.array(
      fc.oneof({ arbitrary: fc.constant('/'), weight: 14 }, { arbitrary: fc.constant('//'), weight: 1 }, { arbitrary: fc.constant('\\'), weight: 1 }),
      { minLength: 4, maxLength: 4 },
    ),
    tail: fc.nat(),
  })
  // Unbiased: fast-check's bias toward small and extreme values would make most paths odd.
  return fc.sample(fc.noBias(shape), { seed: Number(process.env.PATHS_SEED ?? 20261206), numRuns: Number(process.env.PATHS_RUNS ?? 250) }).map((t) => {
    const pools = TEMPLATES[t.template % TEMPLATES.length]!
    const pieces = pools.map((pool, i) => pool[t.picks[i]! % pool.length]!)
    // A piece slipped in one time in four.
    if (t.junk.present === 0) pieces.splice(t.junk.at % (pieces.length + 1), 0, JUNK[t.junk.piece % JUNK.length]!)
    const path = pieces.map((p, i) => t.separators[i]! + p).join('')
    return heads[t.head % heads.length]! + path + TAILS[t.tail % TAILS.length]!
  })
}

const servers = [
  ['express 5 (app.use)', (g: Gate, o?: HttpMiddlewareOptions) => expressApp(g, o)],
  ['express 5 (in each route)', (g: Gate, o?: HttpMiddlewareOptions) => expressApp(g, o, 'route')],
  ['fastify 5 (preHandler)', (g: Gate, o?: HttpMiddlewareOptions) => fastifyApp(g, o)],
  ['fastify 5 (onRequest)', (g: Gate, o?: HttpMiddlewareOptions) => fastifyApp(g, o, 'onRequest')],
  ['fastify 5 (caseSensitive: false)', (g: Gate, o?: HttpMiddlewareOptions) => fastifyApp(g, o, 'preHandler', { caseSensitive: false })],
] as const

/** What the framework routes, found with a gate that permits everything: target -> handler run. */
async function reached(start: (g: Gate, o?: HttpMiddlewareOptions) => Promise<App>, targets: (port: number) => string[]) {
  const judged: EvaluateOptions[] = []
  const app = await start(Gate.fromObject({ policies: [STAFF_DO_ALL] }, { onVerdict: (_v, ctx) => void judged.push(ctx as EvaluateOptions) }))
  const out: { target: string; ran: string | undefined; judged: EvaluateOptions[] }[] = []
  try {
    for (const target of targets(app.port)) {
      judged.length = 0
      const before = app.ran.length
      await send(app.port, 'DELETE', target, STAFF)
      out.push({ target, ran: app.ran[before], judged: [...judged] })
    }
  } finally {
    await app.close()
  }
  return out
}

for (const [name, start] of servers) {
  describe(`${name}: the gate judges the route that runs`, () => {
    test('every spelling that reaches DELETE /users/:id is judged users.delete on /users/<id>', async () => {
      const runs = await reached(start, userTargets)
      for (const r of runs.filter((x) => x.ran !== undefined)) {
        expect(r.judged.map((j) => j.actionName), r.target).toEqual(['users.delete'])
        const id = r.ran!.slice('users '.length)
        expect(r.judged[0]!.resource, r.target).toBe(`/users/${id}`)
      }
      // The framework does route these spellings to the handler: the assertions above ran.
      const routed = runs.filter((x) => x.ran !== undefined).map((x) => x.target)
      expect(routed).toContain('/users/sessions')
      expect(routed.some((t) => t.startsWith('http://'))).toBe(true)
      expect(routed.length).toBeGreaterThanOrEqual(5)
    })

    test('every spelling that reaches an /admin route is judged with an /admin/ resource', async () => {
      const runs = await reached(start, adminTargets)
      for (const r of runs.filter((x) => x.ran !== undefined)) {
        expect(r.judged.map((j) => j.actionName), r.target).toEqual(['reports.delete'])
        expect(r.judged[0]!.resource, r.target).toBe('/admin/reports/1')
      }
      expect(runs.filter((x) => x.ran !== undefined).length).toBeGreaterThanOrEqual(3)
    })

    test('250 generated spellings: a handler runs only after the gate judged its own route', async () => {
      const runs = await reached(start, generatedTargets)
      const gatedRoutes = ['/healthcare/patients/:id', '/readyz-config', '/metrics-admin/reset']
      for (const r of runs) {
        // The last judgment before a handler is its route's (a route passing the request on
        // with next() was judged as itself first).
        const judged = r.judged.slice(-1).map((j) => [j.actionName, j.resource])
        if (r.ran?.startsWith('users ')) expect(judged, r.target).toEqual([['users.delete', `/users/${r.ran.slice('users '.length)}`]])
        else if (r.ran?.startsWith('admin ')) expect(judged, r.target).toEqual([['reports.delete', `/admin/reports/${r.ran.slice('admin '.length)}`]])
        else if (r.ran !== undefined && gatedRoutes.includes(r.ran)) expect(judged.map(([action]) => action), r.target).toEqual([deriveActionName('DELETE', r.ran)])
      }
      // The generator does reach both routes: the assertions above ran.
      expect(runs.filter((r) => r.ran?.startsWith('users ')).length).toBeGreaterThanOrEqual(5)
      expect(runs.filter((r) => r.ran?.startsWith('admin ')).length).toBeGreaterThanOrEqual(3)
    })

    test('250 generated spellings against a gate refusing users.delete and /admin/*: no such handler runs', async () => {
      const app = await start(Gate.fromObject({ policies: [REFUSE_USER_DELETES, REFUSE_ADMIN_AREA, STAFF_DO_ALL] }))
      try {
        for (const target of generatedTargets(app.port)) {
          await send(app.port, 'DELETE', target, STAFF)
        }
        expect(app.ran.filter((x) => x.startsWith('users ') || x.startsWith('admin '))).toEqual([])
      } finally {
        await app.close()
      }
    })

    test('refusing users.delete and /admin/*: no spelling runs a handler; the routed ones get 403 POLICY_DENIED', async () => {
      const app = await start(Gate.fromObject({ policies: [REFUSE_USER_DELETES, REFUSE_ADMIN_AREA, STAFF_DO_ALL] }))
      try {
        for (const target of [...userTargets(app.port), ...adminTargets(app.port)]) {
          const a = await send(app.port, 'DELETE', target, STAFF)
          // 404: the framework routes this spelling nowhere (fastify is case-sensitive by default).
          expect([403, 404], target).toContain(a.status)
          if (a.status === 403) expect(a.json?.code, target).toBe('POLICY_DENIED')
        }
        expect(app.ran).toEqual([])
      } finally {
        await app.close()
      }
    })

    test('a target that names no single path is refused with INVALID_CONTEXT, even where everything is permitted', async () => {
      const app = await start(Gate.fromObject({ policies: [STAFF_DO_ALL] }))
      try {
        // Both frameworks route these to DELETE /users/:id (id 'a/b', 'a\\b', '\0').
        for (const target of ['/users/a%2Fb', '/users/a%5Cb', '/users/%00']) {
          const a = await send(app.port, 'DELETE', target, STAFF)
          expect(a.status, target).toBe(403)
          expect(a.json?.code, target).toBe('INVALID_CONTEXT')
        }
        for (const target of ['/users/..%2Fadmin', '/users/%2e%2e/admin/reports/1', '/users/./42', '/admin/reports/1/..', '/users/%zz']) {
          const a = await send(app.port, 'DELETE', target, STAFF)
          // Otherwise the framework answers first: fastify's 400 for a malformed URL, or a 404
          // where no route matches and the middleware sits in the routes.
          if (a.status === 403) expect(a.json?.code, target).toBe('INVALID_CONTEXT')
          else expect([400, 404], target).toContain(a.status)
        }
        expect(app.ran).toEqual([])
      } finally {
        await app.close()
      }
    })

    test('excludedPaths: /health and /health/... pass; /healthcare, /readyz-config, /metrics-admin are gated', async () => {
      // No policies: every gated request is refused.
      const app = await start(Gate.fromObject({ policies: [] }))
      try {
        for (const target of ['/healthcare/patients/7', '/readyz-config', '/metrics-admin/reset']) {
          const a = await send(app.port, 'DELETE', target)
          expect(a.status, target).toBe(403)
          expect(a.json?.code, target).toBe('NO_POLICY_MATCH')
        }
        // Not in canonical form, so never excluded (a 404 where the framework routes them nowhere).
        for (const target of ['//health', '/%68ealth', '/health/%2e']) {
          const a = await send(app.port, 'DELETE', target)
          if (a.status === 403) expect(a.json?.code, target).toMatch(/^(NO_POLICY_MATCH|INVALID_CONTEXT)$/)
          else expect(a.status, target).toBe(404)
        }
        expect(app.ran).toEqual([])
        expect((await send(app.port, 'DELETE', '/health')).status).toBe(200)
        expect((await send(app.port, 'DELETE', '/health/deep')).status).toBe(200)
        expect(app.ran).toEqual(['/health', '/health/deep'])
      } finally {
        await app.close()
      }
    })
  })
}

describe('express: a route reached by falling through', () => {
  test('DELETE /users/me is judged me.delete, passes on with next(), and /users/:id is stopped before its handler', async () => {
    const app = await expressApp(Gate.fromObject({ policies: [REFUSE_USER_DELETES, STAFF_DO_ALL] }))
    try {
      const a = await send(app.port, 'DELETE', '/users/me', STAFF)
      expect(a.status).toBe(403)
      expect(a.json).toEqual({ error: 'error-handler', code: 'INVALID_CONTEXT' })
      expect(app.ran).toEqual([])
      // The route-level placement judges /users/:id itself when the request reaches it.
      const perRoute = await expressApp(Gate.fromObject({ policies: [REFUSE_USER_DELETES, STAFF_DO_ALL] }), {}, 'route')
      try {
        const b = await send(perRoute.port, 'DELETE', '/users/me', STAFF)
        expect(b.status).toBe(403)
        expect(b.json?.code).toBe('POLICY_DENIED')
        expect(perRoute.ran).toEqual([])
      } finally {
        await perRoute.close()
      }
    } finally {
      await app.close()
    }
  })
})

describe('express: a gate mounted after a route that passes requests on', () => {
  test('the route before the gate (/:collection/:id) does not stand in for the route after it', async () => {
    const ran: string[] = []
    const app = express()
    // A catch-all logger route, then the gate, then the real route.
    app.delete('/:collection/:id', (_req, _res, next) => next())
    app.use(createExpressMiddleware(Gate.fromObject({ policies: [REFUSE_USER_DELETES, STAFF_DO_ALL] })))
    app.delete('/users/:id', (req, res) => {
      ran.push(req.params.id)
      res.json({ deleted: req.params.id })
    })
    const server: Server = await new Promise((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s))
    })
    try {
      const { port } = server.address() as AddressInfo
      for (const target of ['/users/42', '/users/sessions']) {
        const a = await send(port, 'DELETE', target, STAFF)
        expect(a.status, target).toBe(403)
        expect(a.json?.code, target).toBe('POLICY_DENIED')
      }
      expect(ran).toEqual([])
    } finally {
      await new Promise<void>((r) => server.close(() => r()))
    }
  })
})

/** An express app on an ephemeral port; `close` stops it. */
async function listen(app: express.Express): Promise<{ port: number; close: () => Promise<void> }> {
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s))
  })
  return { port: (server.address() as AddressInfo).port, close: () => new Promise<void>((r) => server.close(() => r())) }
}

describe('express: the method changed after the gate', () => {
  /** Users may be created, nothing else; a method override (as `method-override` does) runs after the gate. */
  async function overrideApp(ran: string[]): Promise<{ port: number; close: () => Promise<void> }> {
    const app = express()
    const onlyCreate = { name: 'create_users', effect: 'permit' as const, conditions: [{ action: 'users.create' }] }
    app.use(createExpressMiddleware(Gate.fromObject({ policies: [onlyCreate] })))
    app.use((req, _res, next) => {
      const override = req.headers['x-http-method-override']
      if (typeof override === 'string') req.method = override.toUpperCase()
      next()
    })
    app.post('/users/:id', (req, res) => {
      ran.push(`create ${req.params.id}`)
      res.json({ created: req.params.id })
    })
    app.delete('/users/:id', (req, res) => {
      ran.push(`delete ${req.params.id}`)
      res.json({ deleted: req.params.id })
    })
    app.use((err: { status?: number; code?: string }, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
      res.status(err.status ?? 500).json({ code: err.code })
    })
    return listen(app)
  }

  test('POST overridden to DELETE does not reach the DELETE handler; a plain POST does', async () => {
    const ran: string[] = []
    const app = await overrideApp(ran)
    try {
      expect((await send(app.port, 'DELETE', '/users/5')).status).toBe(403)
      const overridden = await send(app.port, 'POST', '/users/5', { 'x-http-method-override': 'DELETE' })
      expect(overridden.status).toBe(403)
      expect(overridden.json?.code).toBe('INVALID_CONTEXT')
      const plain = await send(app.port, 'POST', '/users/6')
      expect(plain.status).toBe(200)
      expect(ran).toEqual(['create 6'])
    } finally {
      await app.close()
    }
  })

  test('a GET let through ungated and overridden to DELETE is stopped before the handler', async () => {
    const ran: string[] = []
    const app = await overrideApp(ran)
    try {
      const a = await send(app.port, 'GET', '/users/5', { 'x-http-method-override': 'DELETE' })
      expect(a.status).toBe(403)
      expect(a.json?.code).toBe('INVALID_CONTEXT')
      expect(ran).toEqual([])
    } finally {
      await app.close()
    }
  })
})

describe('express: a sub-application reached by a path spelled in another case', () => {
  test('DELETE /Users/6 reaching a sub-app mounted at /users is let through like /users/5', async () => {
    const ran: string[] = []
    const app = express()
    app.use(createExpressMiddleware(Gate.fromObject({ policies: [STAFF_DO_ALL] })))
    const users = express()
    users.delete('/:id', (req, res) => {
      ran.push(req.params.id!)
      res.json({ deleted: req.params.id })
    })
    app.use('/users', users)
    const server = await listen(app)
    try {
      for (const target of ['/users/5', '/Users/6', '/USERS/7/']) {
        const a = await send(server.port, 'DELETE', target, STAFF)
        expect(a.status, target).toBe(200)
      }
      expect(ran).toEqual(['5', '6', '7'])
    } finally {
      await server.close()
    }
  })
})

describe('express: an excluded path filling in a mount parameter', () => {
  test('DELETE /health/users/2 reaching a sub-app mounted at /:tenant is gated, the gate in the route or app-wide', async () => {
    const ran: string[] = []
    const gate = Gate.fromObject({ policies: [STAFF_DO_ALL, REFUSE_USER_DELETES] })
    const app = express()
    app.use(express.json())
    const inRoute = express()
    inRoute.delete('/users/:id', createExpressMiddleware(gate), (req, res) => {
      ran.push(`sub ${req.params.id}`)
      res.json({ deleted: req.params.id })
    })
    app.use('/:tenant', inRoute)
    const server = await listen(app)
    // The gate app-wide, a route under /health that passes requests on, then the sub-app.
    const wide = express()
    wide.use(createExpressMiddleware(Gate.fromObject({ policies: [] })))
    wide.all('/health/*rest', (_req, _res, next) => next())
    const sub = express()
    sub.delete('/users/:id', (req, res) => {
      ran.push(`wide ${req.params.id}`)
      res.json({ deleted: req.params.id })
    })
    wide.use('/:tenant', sub)
    wide.get('/health', (_req, res) => res.json({ ok: true }))
    wide.use((err: { status?: number; message: string }, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
      res.status(err.status ?? 500).json({ error: err.message })
    })
    const wideServer = await listen(wide)
    try {
      for (const target of ['/health/users/2', '/metrics/users/3', '/HEALTH/users/5', '/acme/users/1']) {
        const a = await send(server.port, 'DELETE', target, STAFF)
        expect(a.status, target).toBe(403)
        expect(a.json?.code, target).toBe('POLICY_DENIED')
        const b = await send(wideServer.port, 'DELETE', target, STAFF)
        expect(b.status, target).toBe(403)
      }
      expect(ran).toEqual([])
      expect((await send(wideServer.port, 'GET', '/health')).status).toBe(200)
    } finally {
      await server.close()
      await wideServer.close()
    }
  })
})

describe('refusal bodies carry no server internals', () => {
  let redis: RedisProcess
  beforeAll(async () => {
    redis = await RedisProcess.start()
  })
  afterAll(async () => {
    // RedisProcess.kill() waits for an exit that has already happened once it has been killed.
    if (redis.child?.exitCode === null && redis.child.signalCode === null) await redis.kill()
    rmSync(redis.dir, { recursive: true, force: true })
  })

  test('a store outage: 403 STORE_UNAVAILABLE with a generic reason, onRefusal gets the full one; a policy refusal keeps its reason', async () => {
    const rateStore = await RedisRateLimitStore.connect(redis.url, { prefix: uniquePrefix('http-paths'), commandTimeoutMs: 500 })
    const limited = { name: 'limited', effect: 'permit' as const, conditions: [{ identity_role: 'staff' }, { rate_limit: { max: 100, window: '1m' } }] }
    const gate = Gate.fromObject({ policies: [REFUSE_USER_DELETES, limited] }, { rateStore })
    const events: HttpRefusalEvent[] = []
    const onRefusal = (e: HttpRefusalEvent): void => void events.push(e)
    const apps = [await expressApp(gate, { onRefusal }), await fastifyApp(gate, { onRefusal })]
    try {
      for (const app of apps) {
        expect((await send(app.port, 'DELETE', '/admin/reports/1', STAFF)).status).toBe(200)
        const policy = await send(app.port, 'DELETE', '/users/7', STAFF)
        expect(policy.json).toMatchObject({ error: 'forbidden', code: 'POLICY_DENIED' })
        expect(policy.json?.reason).toContain('nobody_deletes_users')
      }
      await redis.kill()
      for (const app of apps) {
        const a = await send(app.port, 'DELETE', '/admin/reports/2', STAFF)
        expect(a.status).toBe(403)
        expect(a.json?.code).toBe('STORE_UNAVAILABLE')
        expect(a.json?.reason).toBe('a store the gate depends on is unavailable (failing closed)')
        expect(a.body).not.toContain(String(redis.port))
        expect(a.body).not.toMatch(/refused|os error|redis/i)
      }
      expect(apps.map((a) => a.ran)).toEqual([['admin 1'], ['admin 1']])
      const outages = events.filter((e) => e.verdict.code === 'STORE_UNAVAILABLE')
      expect(outages.length).toBe(2)
      for (const e of outages) {
        expect(e.verdict.code).toBe('STORE_UNAVAILABLE')
        expect(e.verdict.reason).toMatch(/unavailable/)
        expect(e.request.path).toBe('/admin/reports/2')
      }
    } finally {
      for (const app of apps) await app.close()
      rateStore.close()
    }
  })

  for (const [name, start] of [
    ['express 5', (g: Gate, o: HttpMiddlewareOptions) => expressApp(g, o)],
    ['fastify 5 (preHandler)', (g: Gate, o: HttpMiddlewareOptions) => fastifyApp(g, o)],
    ['fastify 5 (onRequest)', (g: Gate, o: HttpMiddlewareOptions) => fastifyApp(g, o, 'onRequest')],
  ] as const) {
    test(`${name}: identify failures are 403 IDENTITY_FAILED; what identify threw reaches onRefusal only`, async () => {
      const gate = Gate.fromObject({ policies: [STAFF_DO_ALL] })
      const secret = new Error('db password=hunter2 at 10.0.0.5')
      const events: HttpRefusalEvent[] = []
      const behaviours: Record<string, () => unknown> = {
        throws: () => {
          throw secret
        },
        rejects: async () => {
          throw secret
        },
        null: () => null,
        'a string': () => 'admin',
        'principalId 7': () => ({ principalId: 7, roles: ['staff'] }),
        'roles as a string': () => ({ principalId: 'eve', roles: 'staff' }),
      }
      const answers: Record<string, Answer> = {}
      let mode = ''
      const app = await start(gate, { identify: () => behaviours[mode]!() as never, onRefusal: (e) => void events.push(e) })
      try {
        for (const m of Object.keys(behaviours)) {
          mode = m
          answers[m] = await send(app.port, 'DELETE', '/admin/reports/1')
        }
      } finally {
        await app.close()
      }
      for (const [m, a] of Object.entries(answers)) {
        expect(a.status, m).toBe(403)
        expect(a.json?.code, m).toBe('IDENTITY_FAILED')
        expect(a.body, m).not.toContain('hunter2')
      }
      expect(answers.null!.json?.reason).toMatch(/identify\(\) returned null/)
      expect(answers['principalId 7']!.json?.reason).toMatch(/principalId/)
      expect(app.ran).toEqual([])
      expect(events.filter((e) => e.cause === secret).length).toBe(2)
    })
  }
})

describe('canonicalPath and deriveActionName', () => {
  test('absolute-form reduced, segments decoded once, empty segments dropped; unreadable targets refused', () => {
    expect(canonicalPath('http://example.com:8080/a/%62/c?x=1')).toMatchObject({ ok: true, path: '/a/b/c', raw: '/a/%62/c', clean: false })
    expect(canonicalPath('//a///b/')).toMatchObject({ ok: true, path: '/a/b', clean: false })
    expect(canonicalPath('/health/')).toMatchObject({ ok: true, path: '/health', clean: true })
    expect(canonicalPath('/%2575')).toMatchObject({ ok: true, path: '/%75' })
    expect(canonicalPath('/Admin/X', { foldCase: true })).toMatchObject({ ok: true, path: '/admin/x', segments: ['Admin', 'X'] })
    for (const bad of ['/a/../b', '/a/%2E', '/a%2Fb', '/a%5cb', '/a\\b', '/%E0%A4', '/%zz', '/a%0a', 'users/1', '*', 'http://user@host/a', 'http://h%41/a']) {
      expect(canonicalPath(bad).ok, bad).toBe(false)
    }
  })

  test('route patterns: parameters, wildcards and optional groups never name the action', () => {
    expect(deriveActionName('DELETE', '/users/:id')).toBe('users.delete')
    expect(deriveActionName('DELETE', '/users/:id/sessions/:sid')).toBe('sessions.delete')
    expect(deriveActionName('GET', '/files/*')).toBe('files.read')
    expect(deriveActionName('GET', '/files/*path')).toBe('files.read')
    expect(deriveActionName('PUT', '/docs{/:slug}')).toBe('docs.update')
    expect(deriveActionName('POST', '/{*rest}')).toBe('root.create')
    expect(deriveActionName('DELETE', '/%75sers/42')).toBe('users.delete')
  })
})

describe('express: the gate judges as the router that matched, and a route runs only as judged', () => {
  /** A gate that refuses `refuse` and permits staff everything else; `judged` collects what it saw. */
  function judgingGate(refuse: { resource: string } | { action: string }, judged: string[]): Gate {
    return Gate.fromObject(
      { policies: [{ name: 'off_limits', effect: 'refuse', priority: 10, conditions: [refuse] }, STAFF_DO_ALL] },
      { onVerdict: (v, ctx) => void judged.push(`${v.code ?? 'PERMIT'} ${ctx.actionName} ${ctx.resource}`) },
    )
  }
  const onError = (err: { status?: number; code?: string }, _req: express.Request, res: express.Response, _next: express.NextFunction): void => {
    res.status(err.status ?? 500).json({ error: 'error-handler', code: err.code })
  }

  test("a case-insensitive router in a case-sensitive app: its route's literals spell the resource", async () => {
    const judged: string[] = []
    const ran: string[] = []
    const app = express()
    app.set('case sensitive routing', true)
    app.use(createExpressMiddleware(judgingGate({ resource: '/api/admin/*' }, judged)))
    const api = express.Router() // matches without case: express.Router's default
    api.delete('/admin/users/:id', (req, res) => {
      ran.push(req.originalUrl)
      res.json({ deleted: req.params.id })
    })
    app.use('/api', api)
    const server = await listen(app)
    try {
      for (const target of ['/api/admin/users/1', '/api/ADMIN/users/1', '/api/Admin/Users/1']) {
        const a = await send(server.port, 'DELETE', target, STAFF)
        expect(a.status, target).toBe(403)
        expect(a.json?.code, target).toBe('POLICY_DENIED')
      }
      expect(ran).toEqual([])
      expect(new Set(judged)).toEqual(new Set(['POLICY_DENIED users.delete /api/admin/users/1']))
      // The app's own routes stay case-sensitive: /API is routed nowhere.
      expect((await send(server.port, 'DELETE', '/API/admin/users/1', STAFF)).status).toBe(404)
    } finally {
      await server.close()
    }
  })

  test('a route passing the request on with next() does not stand in for a route spelling the resource otherwise', async () => {
    const judged: string[] = []
    const ran: string[] = []
    const app = express()
    app.use(createExpressMiddleware(judgingGate({ resource: '/admin/*' }, judged)))
    app.delete('/:section/users/:id', (_req, _res, next) => next())
    app.delete('/admin/users/:id', (req, res) => {
      ran.push(req.originalUrl)
      res.json({ deleted: req.params.id })
    })
    app.use(onError)
    const server = await listen(app)
    try {
      const a = await send(server.port, 'DELETE', '/ADMIN/users/1', STAFF)
      expect(a.status).toBe(403)
      expect(a.json).toEqual({ error: 'error-handler', code: 'INVALID_CONTEXT' })
      expect(ran).toEqual([])
      expect(judged[0]).toBe('PERMIT users.delete /ADMIN/users/1')
      // Spelled as both routes spell it, the request is judged and refused as itself.
      expect((await send(server.port, 'DELETE', '/admin/users/1', STAFF)).json?.code).toBe('POLICY_DENIED')
      expect(ran).toEqual([])
    } finally {
      await server.close()
    }
  })

  test('auth and CORS middleware mounted at /api before a router: the request is judged as the route behind them', async () => {
    const judged: string[] = []
    const ran: string[] = []
    const app = express()
    app.use(express.json())
    app.use(createExpressMiddleware(judgingGate({ action: 'users.delete' }, judged)))
    const requireAuth = (req: express.Request, res: express.Response, next: express.NextFunction): void => {
      if (req.headers['x-principal-id'] === undefined) res.status(401).json({ error: 'unauthenticated' })
      else next()
    }
    const corsHeaders = (_req: express.Request, res: express.Response, next: express.NextFunction): void => {
      res.setHeader('access-control-allow-origin', '*')
      next()
    }
    const api = express.Router()
    api.delete('/sessions/:id', (req, res) => {
      ran.push(req.params.id!)
      res.json({ deleted: req.params.id })
    })
    app.use('/api', corsHeaders)
    app.use('/api', requireAuth, api)
    app.use(onError)
    const server = await listen(app)
    try {
      const id = '550e8400-e29b-41d4-a716-446655440000'
      const a = await send(server.port, 'DELETE', `/api/sessions/${id}`, STAFF)
      expect(a.status).toBe(200)
      expect(a.json).toEqual({ deleted: id })
      expect((await send(server.port, 'DELETE', '/api/sessions/a1b2c3', STAFF)).status).toBe(200)
      expect(ran).toEqual([id, 'a1b2c3'])
      expect(judged).toEqual([`PERMIT sessions.delete /api/sessions/${id}`, 'PERMIT sessions.delete /api/sessions/a1b2c3'])
    } finally {
      await server.close()
    }
  })

  test('middleware answering the request itself is judged as the route behind it; given a route, as that route', async () => {
    const judged: string[] = []
    const served: string[] = []
    const proxy = (req: express.Request, res: express.Response): void => {
      served.push(req.originalUrl)
      res.json({ proxied: req.url })
    }
    const app = express()
    app.use(createExpressMiddleware(judgingGate({ action: 'users.delete' }, judged)))
    app.delete('/routed/users/:id', proxy)
    app.use('/routed', proxy)
    app.use('/api', proxy)
    app.all('/{*rest}', (_req, res) => {
      res.status(404).json({ error: 'not found' })
    })
    app.use(onError)
    const server = await listen(app)
    try {
      // The documented limit: the catch-all names the request; its resource is the full path.
      expect((await send(server.port, 'DELETE', '/api/users/42', STAFF)).status).toBe(200)
      // Given a route naming what it serves, the proxy is judged as that route.
      const a = await send(server.port, 'DELETE', '/routed/users/42', STAFF)
      expect(a.status).toBe(403)
      expect(a.json?.code).toBe('POLICY_DENIED')
      expect(served).toEqual(['/api/users/42'])
      expect(judged).toEqual(['PERMIT root.delete /api/users/42', 'POLICY_DENIED users.delete /routed/users/42'])
    } finally {
      await server.close()
    }
  })

  test('req.url rewritten before the gate: the gate judges the path the router routes', async () => {
    const judged: string[] = []
    const ran: string[] = []
    const app = express()
    app.use((req, _res, next) => {
      req.url = req.url.replace(/^\/(en|fr)(?=\/)/, '')
      next()
    })
    app.use(createExpressMiddleware(judgingGate({ resource: '/admin/*' }, judged)))
    app.delete('/admin/users/:id', (req, res) => {
      ran.push(req.originalUrl)
      res.json({ deleted: req.params.id })
    })
    app.delete('/users/:id', (req, res) => {
      ran.push(req.originalUrl)
      res.json({ deleted: req.params.id })
    })
    app.use(onError)
    const server = await listen(app)
    try {
      expect((await send(server.port, 'DELETE', '/en/admin/users/1', STAFF)).json?.code).toBe('POLICY_DENIED')
      expect((await send(server.port, 'DELETE', '/fr/users/2', STAFF)).status).toBe(200)
      expect(ran).toEqual(['/fr/users/2'])
      expect(judged).toEqual(['POLICY_DENIED users.delete /admin/users/1', 'PERMIT users.delete /users/2'])
    } finally {
      await server.close()
    }
  })
})

describe('query fields that a query parser reads as a param a rule reads', () => {
  const capped = (): Gate =>
    Gate.fromObject(
      { policies: [{ name: 'support', effect: 'permit', conditions: [{ identity_role: 'support' }, { action: 'refunds.create' }] }] },
      { invariants: [{ name: 'cap', field: 'amount', maxValue: 1000 }] },
    )
  const SUPPORT = { 'x-principal-id': 'eve', 'x-roles': 'support', 'content-type': 'application/json' }
  const QS_SPELLINGS = ['?amount=5000', '?amount[]=5000', '?[amount]=5000', '?%5Bamount%5D=5000', '?[amount][x]=5000', '?x=1&[amount]=5000']

  /** POSTs each `/api/v1/refunds<tail>`; returns the answers' statuses and the queries a handler saw. */
  async function post(port: number, tails: string[], seen: unknown[]): Promise<{ statuses: number[]; seen: unknown[] }> {
    const statuses: number[] = []
    for (const tail of tails) statuses.push((await send(port, 'POST', `/api/v1/refunds${tail}`, SUPPORT, '{"orderId":"A-1"}')).status)
    return { statuses, seen: [...seen] }
  }

  test("express with the 'extended' (qs) query parser: [amount] and %5Bamount%5D are refused", async () => {
    const seen: unknown[] = []
    const app = express()
    app.set('query parser', 'extended')
    app.use(express.json())
    app.use(createExpressMiddleware(capped()))
    app.post('/api/v1/refunds', (req, res) => {
      seen.push(req.query)
      res.json({ ok: true })
    })
    const server = await listen(app)
    try {
      const r = await post(server.port, QS_SPELLINGS, seen)
      expect(r.seen).toEqual([])
      expect(r.statuses).toEqual(QS_SPELLINGS.map(() => 403))
      expect((await post(server.port, ['?note=x'], seen)).statuses).toEqual([200])
    } finally {
      await server.close()
    }
  })

  for (const [name, options] of [
    ['qs as querystringParser', { routerOptions: { querystringParser: (q: string) => qs.parse(q) } }],
    ['useSemicolonDelimiter', { useSemicolonDelimiter: true }],
    ['routerOptions.useSemicolonDelimiter', { routerOptions: { useSemicolonDelimiter: true } }],
    // fastify's validator fills in `routerOptions.useSemicolonDelimiter: false`; its router takes the top-level `true`.
    ['useSemicolonDelimiter beside other routerOptions', { useSemicolonDelimiter: true, routerOptions: { ignoreTrailingSlash: true } }],
  ] as const) {
    test(`fastify, ${name}: a query the router reads after ';', '#' or as qs brackets is refused`, async () => {
      const seen: unknown[] = []
      const app = Fastify(options as FastifyServerOptions)
      app.addHook('preHandler', createFastifyHook(capped()))
      app.post('/api/v1/refunds', async (request) => {
        seen.push(request.query)
        return { ok: true }
      })
      await app.listen({ port: 0, host: '127.0.0.1' })
      try {
        const { port } = app.server.address() as AddressInfo
        const tails = [...QS_SPELLINGS, ';amount=5000', ';x=1&amount=5000', '#&amount=5000', '#amount=5000']
        const r = await post(port, tails, seen)
        // Each request is refused or routed nowhere (a 404 without the semicolon delimiter): none reaches the handler.
        expect(r.seen).toEqual([])
        for (const status of r.statuses) expect([403, 404]).toContain(status)
        expect((await post(port, ['?note=x', ';note=x'], seen)).statuses[0]).toBe(200)
      } finally {
        await app.close()
      }
    })
  }

  for (const [name, options] of [
    ['top-level', { useSemicolonDelimiter: true }],
    ['in routerOptions', { routerOptions: { useSemicolonDelimiter: true } }],
    ['top-level beside other routerOptions', { useSemicolonDelimiter: true, routerOptions: { ignoreTrailingSlash: true } }],
  ] as const) {
    test(`fastify, useSemicolonDelimiter ${name}: a refuse policy on a path holds for that path followed by ';'`, async () => {
      const only7 = { name: 'report_7_kept', effect: 'refuse' as const, priority: 10, conditions: [{ resource: '/admin/reports/7' }] }
      const app = await fastifyApp(Gate.fromObject({ policies: [STAFF_DO_ALL, only7] }), {}, 'preHandler', options as FastifyServerOptions)
      try {
        for (const target of ['/admin/reports/7', '/admin/reports/7;', '/admin/reports/7;v=2']) {
          const a = await send(app.port, 'DELETE', target, STAFF)
          expect(a.status, target).toBe(403)
          expect(a.json?.code, target).toBe('POLICY_DENIED')
        }
        expect((await send(app.port, 'DELETE', '/admin/reports/8;', STAFF)).status).toBe(200)
        expect(app.ran).toEqual(['admin 8'])
      } finally {
        await app.close()
      }
    })
  }

  test('fastify, useSemicolonDelimiter: the path is judged up to the ;', async () => {
    const judged: string[] = []
    const gate = Gate.fromObject({ policies: [STAFF_DO_ALL] }, { onVerdict: (_v, ctx) => void judged.push(`${ctx.actionName} ${ctx.resource}`) })
    const app = Fastify({ routerOptions: { useSemicolonDelimiter: true } } as FastifyServerOptions)
    app.addHook('preHandler', createFastifyHook(gate))
    app.delete('/users/:id', async (request) => ({ deleted: (request.params as { id: string }).id }))
    await app.listen({ port: 0, host: '127.0.0.1' })
    try {
      const { port } = app.server.address() as AddressInfo
      expect((await send(port, 'DELETE', '/users/42;jsessionid=abc', STAFF)).json).toEqual({ deleted: '42' })
      expect(judged).toEqual(['users.delete /users/42'])
    } finally {
      await app.close()
    }
  })
})
