// Requests and callers chosen to slip past the integrations, against real express 5 and
// fastify 5 servers over raw HTTP and a real McpServer with the SDK's own Client: an excluded
// path spelled into a parameter route, an onRefusal whose promise rejects, a path the router
// folds with full Unicode case, literal colons in routes, HEAD run by a GET handler, drift
// reasons that name the session's origin, identify failures, and a body with an own `__proto__`.

import http from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Server } from 'node:http'

import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js'
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import express from 'express'
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import { describe, expect, test } from 'vitest'

import {
  Gate,
  KavachError,
  createExpressMiddleware,
  createFastifyHook,
  deriveActionName,
  gateMcpServer,
  guardTools,
  type HttpMiddlewareOptions,
  type HttpPrincipal,
  HttpKavachMiddleware,
  type HttpRefusalEvent,
  type HttpRequestInfo,
  type McpCaller,
  type Policy,
  type Verdict,
} from '../index'
import { identityProblem } from '../src/integrations/identified'
import { polluted, pollutedWith } from './fixtures/polluted'

const STAFF = { 'x-principal-id': 'eve', 'x-roles': 'staff' }
const STAFF_DO_ALL = { name: 'staff_do_all', effect: 'permit' as const, conditions: [{ identity_role: 'staff' }] }

interface Answer {
  status: number
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
        resolve({ status: res.statusCode ?? 0, json })
      })
    })
    req.on('error', reject)
    req.end(body)
  })
}

interface App {
  port: number
  close(): Promise<void>
}

/** An express app with `routes` mounted after the middleware (and express.json()). */
async function expressApp(gate: Gate, options: HttpMiddlewareOptions, routes: (app: express.Express) => void): Promise<App> {
  const app = express()
  app.use(express.json())
  app.use(createExpressMiddleware(gate, options))
  routes(app)
  app.use((err: { status?: unknown; code?: unknown }, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    res.status(typeof err.status === 'number' ? err.status : 500).json({ error: 'error-handler', code: err.code })
  })
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s))
  })
  const { port } = server.address() as AddressInfo
  return { port, close: () => new Promise((r) => server.close(() => r())) }
}

/** A fastify instance with the hook as `preHandler` and `routes`. */
async function fastifyApp(gate: Gate, options: HttpMiddlewareOptions, routes: (app: FastifyInstance) => void, fastifyOptions: FastifyServerOptions = {}): Promise<App> {
  const app = Fastify(fastifyOptions)
  app.addHook('preHandler', createFastifyHook(gate, options))
  routes(app)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as AddressInfo
  return { port, close: () => app.close() }
}

/** Collects the process warnings with `code` while `body` runs (and a tick after). */
async function warningsDuring(code: string, body: () => Promise<void>): Promise<string[]> {
  const seen: string[] = []
  const listener = (w: Error & { code?: string }): void => {
    if (w.code === code) seen.push(w.message)
  }
  process.on('warning', listener)
  try {
    await body()
    await new Promise((r) => setTimeout(r, 50))
  } finally {
    process.off('warning', listener)
  }
  return seen
}

describe('excludedPaths apply to the route that serves the request', () => {
  const policies = [STAFF_DO_ALL, { name: 'nobody_deletes_users', effect: 'refuse' as const, priority: 10, conditions: [{ action: 'users.delete' }] }]

  test('express: DELETE /health/users/42 reaching /:version/users/:id is gated; /health itself passes', async () => {
    const ran: string[] = []
    const app = await expressApp(Gate.fromObject({ policies }), {}, (a) => {
      a.delete('/health', (_req, res) => void res.json({ ok: ran.push('health') }))
      a.delete('/:version/users/:id', (req, res) => void res.json({ deleted: ran.push(`user ${req.params.version} ${req.params.id}`) }))
    })
    try {
      for (const target of ['/v1/users/42', '/health/users/42', '/metrics/users/43', '/ready/users/44', '/HEALTH/users/45']) {
        const a = await send(app.port, 'DELETE', target, STAFF)
        expect(a.status, target).toBe(403)
        expect(a.json?.code, target).toBe('POLICY_DENIED')
      }
      expect((await send(app.port, 'DELETE', '/health', STAFF)).status).toBe(200)
      expect(ran).toEqual(['health'])
    } finally {
      await app.close()
    }
  })

  test('express: a health route with an optional group (/live{/}) passes; an optional parameter group ahead of it does not', async () => {
    const ran: string[] = []
    const app = await expressApp(Gate.fromObject({ policies: [] }), { gateMutationsOnly: false, excludedPaths: ['/live', '/health'] }, (a) => {
      a.get('/live{/}', (_req, res) => void res.json({ ok: ran.push('live') }))
      a.get('/health{/:check}', (_req, res) => void res.json({ ok: ran.push('health') }))
      a.get('{/:tenant}/health/users/:id', (_req, res) => void res.json({ ok: ran.push('users') }))
    })
    try {
      for (const target of ['/live', '/live/', '/health', '/health/db']) expect((await send(app.port, 'GET', target)).status, target).toBe(200)
      // The excluded path reaches the route with the tenant left out; the route serves other paths too.
      const users = await send(app.port, 'GET', '/health/health/users/1')
      expect(users.status).toBe(403)
      expect(ran).toEqual(['live', 'live', 'health', 'health'])
    } finally {
      await app.close()
    }
  })

  test('fastify: DELETE /health/users/42 reaching /:tenant/users/:id is gated; /health/deep passes', async () => {
    const ran: string[] = []
    const app = await fastifyApp(Gate.fromObject({ policies }), {}, (f) => {
      f.delete('/health/deep', async () => ({ ok: ran.push('deep') }))
      f.delete<{ Params: { tenant: string; id: string } }>('/:tenant/users/:id', async (req) => ({ deleted: ran.push(`user ${req.params.tenant} ${req.params.id}`) }))
    })
    try {
      for (const target of ['/v1/users/42', '/health/users/42', '/metrics/users/43']) {
        const a = await send(app.port, 'DELETE', target, STAFF)
        expect(a.status, target).toBe(403)
        expect(a.json?.code, target).toBe('POLICY_DENIED')
      }
      expect((await send(app.port, 'DELETE', '/health/deep', STAFF)).status).toBe(200)
      // No route: the not-found handler is reached through the gate (no policies: refused).
      const closed = await fastifyApp(Gate.fromObject({ policies: [] }), {}, () => undefined)
      try {
        expect((await send(closed.port, 'DELETE', '/health/gone')).status).toBe(403)
      } finally {
        await closed.close()
      }
      expect(ran).toEqual(['deep'])
    } finally {
      await app.close()
    }
  })
})

describe('an async onRefusal that rejects', () => {
  for (const [name, start] of [
    ['express', (g: Gate, o: HttpMiddlewareOptions) => expressApp(g, o, (a) => a.post('/x', (_req, res) => void res.json({ ok: 1 })))],
    ['fastify', (g: Gate, o: HttpMiddlewareOptions) => fastifyApp(g, o, (f) => f.post('/x', async () => ({ ok: 1 })))],
  ] as const) {
    test(`${name}: the rejection is a KAVACH_ON_REFUSE_FAILED warning, the server answers on`, async () => {
      const unhandled: unknown[] = []
      const onUnhandled = (e: unknown): void => void unhandled.push(e)
      process.on('unhandledRejection', onUnhandled)
      const app = await start(Gate.fromObject({ policies: [STAFF_DO_ALL] }), {
        onRefusal: async () => {
          throw new Error('audit log sink unavailable')
        },
      })
      try {
        const warnings = await warningsDuring('KAVACH_ON_REFUSE_FAILED', async () => {
          expect((await send(app.port, 'POST', '/x')).status).toBe(403)
          expect((await send(app.port, 'POST', '/x', STAFF)).status).toBe(200)
        })
        expect(warnings).toEqual(["kavach: onRefusal's promise rejected (the refusal stands): audit log sink unavailable"])
        expect(unhandled).toEqual([])
      } finally {
        process.off('unhandledRejection', onUnhandled)
        await app.close()
      }
    })
  }
})

describe('an onRefusal failing with a value that cannot be read as text', () => {
  const unreadable = (): unknown => Object.create(null)
  const messageThrows = (): unknown => ({
    get message(): string {
      throw new Error('no message')
    },
    toString(): string {
      throw new Error('no text')
    },
  })
  const hooks: [string, HttpMiddlewareOptions['onRefusal'], string][] = [
    ['throws a null-prototype object', () => {
      throw unreadable()
    }, 'onRefusal threw'],
    ['rejects with a null-prototype object', () => Promise.reject(unreadable()), "onRefusal's promise rejected"],
    ['rejects with an object whose message and toString throw', () => Promise.reject(messageThrows()), "onRefusal's promise rejected"],
    ['returns a thenable rejecting with a null-prototype object', () => ({ then: (_ok: unknown, fail: (e: unknown) => void) => fail(unreadable()) }) as unknown as Promise<void>, "onRefusal's promise rejected"],
  ]
  for (const [name, start] of [
    ['express', (g: Gate, o: HttpMiddlewareOptions) => expressApp(g, o, (a) => a.post('/x', (_req, res) => void res.json({ ok: 1 })))],
    ['fastify', (g: Gate, o: HttpMiddlewareOptions) => fastifyApp(g, o, (f) => f.post('/x', async () => ({ ok: 1 })))],
  ] as const) {
    test(`${name}: the refusal stands as a 403, a KAVACH_ON_REFUSE_FAILED warning names the value's kind`, async () => {
      const unhandled: unknown[] = []
      const onUnhandled = (e: unknown): void => void unhandled.push(e)
      process.on('unhandledRejection', onUnhandled)
      try {
        for (const [what, onRefusal, prefix] of hooks) {
          const app = await start(Gate.fromObject({ policies: [STAFF_DO_ALL] }), { onRefusal })
          try {
            const warnings = await warningsDuring('KAVACH_ON_REFUSE_FAILED', async () => {
              const a = await send(app.port, 'POST', '/x')
              expect(a.status, what).toBe(403)
              expect(a.json?.code, what).toBe('NO_POLICY_MATCH')
              expect((await send(app.port, 'POST', '/x', STAFF)).status, what).toBe(200)
            })
            expect(warnings, what).toEqual([`kavach: ${prefix} (the refusal stands): a thrown object that cannot be read as text`])
          } finally {
            await app.close()
          }
        }
        expect(unhandled).toEqual([])
      } finally {
        process.off('unhandledRejection', onUnhandled)
      }
    })
  }
})

describe('fastify caseSensitive: false folds the path with full Unicode case', () => {
  test('/\\u212Aeys/1 (KELVIN SIGN) reaches /keys/:id and is judged on /keys/1', async () => {
    const ran: string[] = []
    const judged: string[] = []
    const gate = Gate.fromObject(
      { policies: [STAFF_DO_ALL, { name: 'keys_off_limits', effect: 'refuse', priority: 10, conditions: [{ resource: '/keys/*' }] }] },
      { onVerdict: (v, ctx) => void judged.push(`${v.code} ${ctx.resource}`) },
    )
    const app = await fastifyApp(gate, {}, (f) => f.delete<{ Params: { id: string } }>('/keys/:id', async (req) => ({ deleted: ran.push(req.params.id) })), { routerOptions: { caseSensitive: false } } as FastifyServerOptions)
    try {
      for (const target of ['/keys/1', '/KEYS/1', '/%E2%84%AAeys/1', '/%e2%84%aaEYS/2']) {
        const a = await send(app.port, 'DELETE', target, STAFF)
        expect(a.status, target).toBe(403)
        expect(a.json?.code, target).toBe('POLICY_DENIED')
      }
      expect(ran).toEqual([])
      expect(judged).toEqual(['POLICY_DENIED /keys/1', 'POLICY_DENIED /keys/1', 'POLICY_DENIED /keys/1', 'POLICY_DENIED /keys/2'])
    } finally {
      await app.close()
    }
  })
})

describe('literal colons in routes name a custom method', () => {
  test('deriveActionName: the literal after a colon comes between the resource and the verb', () => {
    expect(deriveActionName('POST', '/v1/users')).toBe('users.create')
    expect(deriveActionName('POST', '/v1/users/:id::purge')).toBe('users.purge.create')
    expect(deriveActionName('POST', '/v1/users/:id\\:purge')).toBe('users.purge.create')
    expect(deriveActionName('POST', '/admin::shutdown')).toBe('admin.shutdown.create')
    expect(deriveActionName('GET', '/v1/users::batchGet')).toBe('users.batchGet.read')
    // A parameter after the colon names nothing; an unescaped colon starts a parameter.
    expect(deriveActionName('POST', '/users/:id:::verb')).toBe('users.create')
    expect(deriveActionName('DELETE', '/files/:name-:ext')).toBe('files.delete')
  })

  test('fastify /v1/users/:id::purge and express /v1/users/:id\\:purge are judged users.purge.create, not users.create', async () => {
    const ran: string[] = []
    const judged: string[] = []
    // A signup bot may create users; nothing else is permitted.
    const gateFor = (): Gate =>
      Gate.fromObject(
        { policies: [{ name: 'signup_bot_creates_users', effect: 'permit', conditions: [{ identity_role: 'signup' }, { action: 'users.create' }] }] },
        { onVerdict: (_v, ctx) => void judged.push(ctx.actionName) },
      )
    const f = await fastifyApp(gateFor(), {}, (app) => {
      app.post('/v1/users', async () => ({ ok: ran.push('fastify create') }))
      app.post<{ Params: { id: string } }>('/v1/users/:id::purge', async (req) => ({ purged: ran.push(`fastify purge ${req.params.id}`) }))
    })
    const e = await expressApp(gateFor(), {}, (app) => {
      app.post('/v1/users', (_req, res) => void res.json({ ok: ran.push('express create') }))
      app.post('/v1/users/:id\\:purge', (req, res) => void res.json({ purged: ran.push(`express purge ${(req.params as Record<string, string>).id}`) }))
    })
    const bot = { 'x-principal-id': 'bot', 'x-roles': 'signup', 'content-type': 'application/json' }
    try {
      for (const port of [f.port, e.port]) {
        expect((await send(port, 'POST', '/v1/users/42:purge', bot, '{}')).status).toBe(403)
        expect((await send(port, 'POST', '/v1/users', bot, '{}')).status).toBe(200)
      }
      expect(ran).toEqual(['fastify create', 'express create'])
      expect(judged).toEqual(['users.purge.create', 'users.create', 'users.purge.create', 'users.create'])
    } finally {
      await f.close()
      await e.close()
    }
  })

  test('a colon inside a regular-expression parameter names no custom method', async () => {
    expect(deriveActionName('POST', '/time/:t(^\\d+\\:\\d+$)')).toBe('time.create')
    expect(deriveActionName('POST', '/time/:t(^\\d+:\\d+$)')).toBe('time.create')
    expect(deriveActionName('DELETE', '/peers/:addr(^[0-9a-f]+::1$)')).toBe('peers.delete')
    expect(deriveActionName('POST', '/x/:a(^[a-z]+$)::run')).toBe('x.create')
    expect(deriveActionName('POST', '/files/:name.:ext::convert')).toBe('files.convert.create')
    const ran: string[] = []
    const judged: string[] = []
    const gate = Gate.fromObject(
      { policies: [STAFF_DO_ALL, { name: 'no_time', effect: 'refuse', priority: 10, conditions: [{ action: 'time.create' }] }] },
      { onVerdict: (_v, ctx) => void judged.push(ctx.actionName) },
    )
    const f = await fastifyApp(gate, {}, (app) => {
      app.post<{ Params: { t: string } }>('/time/:t(^\\d+\\:\\d+$)', async (req) => ({ ran: ran.push(req.params.t) }))
    })
    try {
      const a = await send(f.port, 'POST', '/time/12:30', STAFF)
      expect(a.status).toBe(403)
      expect(a.json?.code).toBe('POLICY_DENIED')
      expect(judged).toEqual(['time.create'])
      expect(ran).toEqual([])
    } finally {
      await f.close()
    }
  })

  test('express, no route: a path with a colon is judged with its colon literal', async () => {
    const judged: string[] = []
    const gate = Gate.fromObject({ policies: [] }, { onVerdict: (_v, ctx) => void judged.push(ctx.actionName) })
    const app = await expressApp(gate, {}, () => undefined)
    try {
      expect((await send(app.port, 'POST', '/v1/users/42:purge')).status).toBe(403)
      expect(judged).toEqual(['users.purge.create'])
    } finally {
      await app.close()
    }
  })
})

describe('HEAD is judged as the GET it runs', () => {
  const policies = [STAFF_DO_ALL, { name: 'no_reports_for_interns', effect: 'refuse' as const, priority: 10, conditions: [{ identity_role: 'intern' }, { action: 'reports.read' }] }]
  const intern = { 'x-principal-id': 'ivan', 'x-roles': 'staff,intern' }

  for (const [name, start] of [
    ['express', (g: Gate, ran: string[]) => expressApp(g, { gateMutationsOnly: false }, (a) => a.get('/reports/:id', (req, res) => void res.json({ secret: ran.push(`${req.method} ${req.params.id}`) })))],
    ['fastify', (g: Gate, ran: string[]) => fastifyApp(g, { gateMutationsOnly: false }, (f) => f.get<{ Params: { id: string } }>('/reports/:id', async (req) => ({ secret: ran.push(`${req.method} ${req.params.id}`) })))],
  ] as const) {
    test(`${name}: HEAD /reports/7 is reports.read and refused like GET`, async () => {
      const ran: string[] = []
      const app = await start(Gate.fromObject({ policies }), ran)
      try {
        expect((await send(app.port, 'GET', '/reports/7', intern)).status).toBe(403)
        expect((await send(app.port, 'HEAD', '/reports/7', intern)).status).toBe(403)
        expect(ran).toEqual([])
      } finally {
        await app.close()
      }
    })
  }

  test('deriveActionName: HEAD reads', () => {
    expect(deriveActionName('HEAD', '/reports/:id')).toBe('reports.read')
  })
})

describe("drift reasons name the session's origin: clients and models get a generic one", () => {
  const ORIGIN_IP = '127.0.0.9'
  const ORIGIN_GEO = { countryCode: 'DE', latitude: 52.52, longitude: 13.4 }

  test('express: a stolen session replayed from elsewhere is 401, then 403, without the origin IP; onRefusal has it', async () => {
    const gate = Gate.fromObject({ policies: [{ name: 'users', effect: 'permit', conditions: [{ identity_role: 'user' }] }] })
    const full: string[] = []
    const app = await expressApp(
      gate,
      {
        identify: (req) => ({ principalId: 'alice', roles: ['user'], sessionId: 'sess-alice', currentGeo: req.headers['x-from'] === 'victim' ? ORIGIN_GEO : { countryCode: 'BR' } }),
        onRefusal: (e) => void full.push(e.verdict.reason ?? ''),
      },
      (a) => a.post('/notes', (_req, res) => void res.json({ ok: 1 })),
    )
    // The request's ip is the client address; express reads it from the socket.
    const from = (localAddress: string, who: string): Promise<Answer> =>
      new Promise((resolve, reject) => {
        const r = http.request({ host: '127.0.0.1', port: app.port, localAddress, method: 'POST', path: '/notes', headers: { connection: 'close', 'x-from': who }, agent: false }, (res) => {
          let d = ''
          res.on('data', (c: Buffer) => (d += c.toString()))
          res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(d) as Record<string, unknown> }))
        })
        r.on('error', reject)
        r.end()
      })
    try {
      expect((await from(ORIGIN_IP, 'victim')).status).toBe(200)
      const stolen = await from('127.0.0.66', 'attacker')
      const again = await from('127.0.0.66', 'attacker')
      expect(stolen.status).toBe(401)
      expect(again.status).toBe(403)
      expect(again.json?.code).toBe('SESSION_INVALID')
      for (const body of [stolen.json, again.json]) {
        expect(JSON.stringify(body)).not.toContain(ORIGIN_IP)
        expect(JSON.stringify(body)).not.toContain('DE')
      }
      expect(full.length).toBe(2)
      for (const reason of full) expect(reason).toContain(ORIGIN_IP)
    } finally {
      await app.close()
    }
  })

  test('guardTools: the model reads a generic reason for the drift Invalidate and the refusals after it', async () => {
    const full: Verdict[] = []
    const gate = Gate.fromObject({ policies: [{ name: 'p', effect: 'permit', conditions: [{ action: 'x' }] }] }, { onVerdict: (v) => void full.push(v) })
    const base = { principalId: 'alice', principalKind: 'user' as const, sessionId: 's1' }
    const victim = { ...base, ip: '203.0.113.7', currentGeo: { countryCode: 'DE', latitude: 52.52, longitude: 13.4 } }
    const attacker = { ...base, ip: '198.51.100.9', currentGeo: { countryCode: 'BR', latitude: -23.5, longitude: -46.6 } }
    const tool = (caller: typeof victim) => guardTools(gate, { x: { execute: async (_input: unknown, _options: unknown) => 'ran' } }, { caller }).x
    expect(await tool(victim).execute({}, {} as never)).toBe('ran')
    const outputs = [await tool(attacker).execute({}, {} as never), await tool(victim).execute({}, {} as never)]
    for (const out of outputs) {
      expect(out).toMatchObject({ refused: true, code: 'SESSION_INVALID' })
      expect(JSON.stringify(out)).not.toMatch(/203\.0\.113\.7|198\.51\.100\.9|'BR'|'DE'/)
    }
    expect(full.filter((v) => !v.isPermit).every((v) => (v.reason ?? '').includes('203.0.113.7'))).toBe(true)
  })
})

describe('gateMcpServer: identify that fails', () => {
  const cases: [string, () => unknown][] = [
    ['null', () => null],
    ['a string', () => 'agent-1'],
    ['an empty callerId', () => ({ callerId: '' })],
    ['an unknown callerKind', () => ({ callerId: 'a', callerKind: 'robot' })],
    ['a geo the gate cannot take', () => ({ callerId: 'a', currentGeo: { countryCode: 7 } })],
    ['a geo with a key the gate does not know', () => ({ callerId: 'a', currentGeo: { lat: 999 } })],
    [
      'a throw',
      () => {
        throw new Error('jwt verify failed: key kid=prod-2026 at https://idp.internal:8443')
      },
    ],
  ]
  for (const [label, identify] of cases) {
    test(`${label}: IDENTITY_FAILED, recorded by the gate, heard by onRefusal; the model reads a generic reason`, async () => {
      const recorded: string[] = []
      const refusals: { code: string | undefined; reason: string | undefined; cause: unknown }[] = []
      const gate = Gate.fromObject({ policies: [{ name: 'all', effect: 'permit', conditions: [{ action: 'ping' }] }] }, { onVerdict: (v) => void recorded.push(`${v.kind}:${v.code}`) })
      const server = new McpServer({ name: 'x', version: '1.0.0' })
      let runs = 0
      server.registerTool('ping', {}, () => {
        runs++
        return { content: [{ type: 'text', text: 'pong' }] }
      })
      gateMcpServer(server, gate, { identify: identify as () => McpCaller, onRefusal: (_n, v, _e, cause) => void refusals.push({ code: v.code, reason: v.reason, cause }) })
      const [a, b] = InMemoryTransport.createLinkedPair()
      await server.connect(b)
      const client = new Client({ name: 'c', version: '1.0.0' })
      await client.connect(a)
      try {
        const r = (await client.callTool({ name: 'ping', arguments: {} })) as { content: { text: string }[]; isError?: boolean }
        expect(r.isError).toBe(true)
        expect(r.content[0]!.text).toBe("kavach refused 'ping': IDENTITY_FAILED: the gate could not sign or verify identity for this call; the tool did not run")
        expect(runs).toBe(0)
        expect(recorded).toEqual(['refuse:IDENTITY_FAILED'])
        expect(refusals.map((x) => x.code)).toEqual(['IDENTITY_FAILED'])
        expect(refusals[0]!.reason).toMatch(/^identify\(\) (threw|returned)/)
        if (label === 'a throw') expect(String(refusals[0]!.cause)).toContain('kid=prod-2026')
      } finally {
        await client.close()
        await server.close()
      }
    })
  }
})

describe('a body with an own __proto__, constructor or prototype holding an object', () => {
  test('express: {"__proto__":{"amount":5000}} is refused 403 INVALID_CONTEXT; the handler never copies it', async () => {
    const gate = Gate.fromObject(
      { policies: [{ name: 'staff', effect: 'permit', conditions: [{ identity_role: 'staff' }, { action: 'refunds.create' }] }] },
      { invariants: [{ name: 'refund_cap', field: 'amount', maxValue: 1000 }] },
    )
    const refunded: unknown[] = []
    const app = await expressApp(gate, {}, (a) =>
      a.post('/refunds', (req, res) => {
        const order = Object.assign({ currency: 'EUR' }, req.body) as { amount?: unknown }
        refunded.push(order.amount)
        res.json({ refunded: order.amount })
      }),
    )
    const json = { ...STAFF, 'content-type': 'application/json' }
    try {
      for (const body of ['{"__proto__":{"amount":5000}}', '{"constructor":{"amount":5000}}', '{"prototype":[5000]}']) {
        const a = await send(app.port, 'POST', '/refunds', json, body)
        expect(a.status, body).toBe(403)
        expect(a.json?.code, body).toBe('INVALID_CONTEXT')
        expect(String(a.json?.reason), body).toMatch(/^the request body has an own '(__proto__|constructor|prototype)' field holding an object/)
      }
      expect((await send(app.port, 'POST', '/refunds', json, '{"amount":500,"constructor":"x"}')).status).toBe(200)
      expect(refunded).toEqual([500])
    } finally {
      await app.close()
    }
  })

  test('a tool input with an own __proto__ object is refused too (guardTools)', async () => {
    const gate = Gate.fromObject({ policies: [{ name: 'all', effect: 'permit', conditions: [{ action: 'refund' }] }] })
    const tools = guardTools(gate, { refund: { execute: async (_input: unknown, _options: unknown) => 'ran' } }, { caller: { principalId: 'a', principalKind: 'agent' } })
    const out = await tools.refund.execute(JSON.parse('{"__proto__":{"amount":5000}}') as never, {} as never)
    expect(out).toMatchObject({ refused: true, code: 'INVALID_CONTEXT' })
  })
})

/** `POST /refunds` behind the gate, on express or fastify; `ran` counts the handler's runs. */
const REFUND_SERVERS = [
  ['express', (g: Gate, o: HttpMiddlewareOptions, ran: string[]) => expressApp(g, o, (a) => a.post('/refunds', (_req, res) => void res.json({ ok: ran.push('refund') })))],
  ['fastify', (g: Gate, o: HttpMiddlewareOptions, ran: string[]) => fastifyApp(g, o, (f) => f.post('/refunds', async () => ({ ok: ran.push('refund') })))],
] as const

describe("identify's principal is read through its prototypes, never through Object.prototype", () => {
  const admins = (): Gate => Gate.fromObject({ policies: [{ name: 'admins_refund', effect: 'permit', conditions: [{ identity_role: 'admin' }, { action: 'refunds.create' }] }] })
  class Session {
    get principalId(): string {
      return 'carol'
    }
    get roles(): string[] {
      return ['admin']
    }
  }
  test('the identity check of HTTP principals and MCP callers reads no id from a polluted Object.prototype', () => {
    const caller = { noun: 'caller', idField: 'callerId', kindField: 'callerKind', expected: 'a caller object { callerId, ... }, or undefined for none' }
    expect(polluted('callerId', 'root', () => identityProblem({ roles: ['admin'] }, caller))).toBe('identify() returned a caller whose callerId is not a non-empty string')
    expect(polluted('callerId', 'root', () => identityProblem(Object.create({ callerId: 'svc' }) as object, caller))).toBeUndefined()
  })

  for (const [name, start] of REFUND_SERVERS) {
    test(`${name}: a polluted Object.prototype.roles grants no role, a polluted principalId names no one; a class instance's fields are read`, async () => {
      const ran: string[] = []
      const mallory = await start(admins(), { identify: () => ({ principalId: 'mallory' }) }, ran)
      const nobody = await start(admins(), { identify: () => ({ roles: ['admin'] }) as unknown as HttpPrincipal }, ran)
      const carol = await start(admins(), { identify: () => new Session() as unknown as HttpPrincipal }, ran)
      try {
        const asMallory = await polluted('roles', ['admin'], () => send(mallory.port, 'POST', '/refunds'))
        expect(asMallory.status).toBe(403)
        expect(asMallory.json?.code).toBe('NO_POLICY_MATCH')
        const asNobody = await polluted('principalId', 'root', () => send(nobody.port, 'POST', '/refunds'))
        expect(asNobody.json).toEqual({ error: 'forbidden', code: 'IDENTITY_FAILED', reason: 'identify() returned a principal whose principalId is not a non-empty string' })
        expect(ran).toEqual([])
        expect((await send(carol.port, 'POST', '/refunds')).status).toBe(200)
        expect(ran).toEqual(['refund'])
      } finally {
        await mallory.close()
        await nobody.close()
        await carol.close()
      }
    })
  }
})

describe('principal fields the gate cannot take are refusals heard by onRefusal, not server errors', () => {
  const open = (): Gate => Gate.fromObject({ policies: [{ name: 'refunds', effect: 'permit', conditions: [{ action: 'refunds.create' }] }] })
  const manyRoles = Array.from({ length: 300 }, (_, i) => `r${i}`)
  const principals: [string, HttpPrincipal][] = [
    ['300 roles', { principalId: 'a', roles: manyRoles }],
    ['a geo with a key the gate does not know', { principalId: 'a', currentGeo: { country: 'US' } as never }],
    ['a geo the gate cannot take', { principalId: 'a', currentGeo: { countryCode: 5 } as never }],
    ['a sessionId with a lone surrogate', { principalId: 'a', sessionId: 's\ud800' }],
    ['a device the gate cannot take', { principalId: 'a', device: { hash: 7 } as never }],
  ]
  for (const [name, start] of REFUND_SERVERS) {
    test(`${name}: 300 roles in x-roles are 403 INVALID_CONTEXT naming the header`, async () => {
      const ran: string[] = []
      const events: HttpRefusalEvent[] = []
      const app = await start(open(), { onRefusal: (e) => void events.push(e) }, ran)
      try {
        const a = await send(app.port, 'POST', '/refunds', { 'x-principal-id': 'eve', 'x-roles': manyRoles.join(',') })
        expect(a.status).toBe(403)
        expect(a.json).toEqual({
          error: 'forbidden',
          code: 'INVALID_CONTEXT',
          reason: "header 'x-principal-id' or 'x-roles' gives the gate a value it cannot take: roles has 300 entries, over the limit of 256",
        })
        expect(events.map((e) => [e.verdict.code, (e.cause as KavachError).code])).toEqual([['INVALID_CONTEXT', 'INVALID_ARGUMENT']])
        expect(ran).toEqual([])
      } finally {
        await app.close()
      }
    })

    for (const [label, principal] of principals) {
      test(`${name}: identify returning ${label} is 403 IDENTITY_FAILED; the client is not told the value, onRefusal gets the gate's error`, async () => {
        const ran: string[] = []
        const events: HttpRefusalEvent[] = []
        const app = await start(open(), { identify: () => principal, onRefusal: (e) => void events.push(e) }, ran)
        try {
          const a = await send(app.port, 'POST', '/refunds')
          expect(a.status).toBe(403)
          expect(a.json).toEqual({ error: 'forbidden', code: 'IDENTITY_FAILED', reason: 'identify() returned a principal the gate cannot take' })
          expect(events).toHaveLength(1)
          expect(events[0]!.verdict.code).toBe('IDENTITY_FAILED')
          expect(events[0]!.cause).toBeInstanceOf(KavachError)
          expect(['INVALID_ARGUMENT', 'INVALID_CONTEXT']).toContain((events[0]!.cause as KavachError).code)
          expect(ran).toEqual([])
        } finally {
          await app.close()
        }
      })
    }

    test(`${name}: a geo from geoResolver the gate cannot take is the request's (INVALID_CONTEXT), not identify's`, async () => {
      const ran: string[] = []
      const events: HttpRefusalEvent[] = []
      const app = await start(open(), { identify: () => ({ principalId: 'a' }), geoResolver: () => ({ currentGeo: { countryCode: 5 } as never }), onRefusal: (e) => void events.push(e) }, ran)
      try {
        const a = await send(app.port, 'POST', '/refunds')
        expect(a.json).toEqual({ error: 'forbidden', code: 'INVALID_CONTEXT', reason: 'the request gives the gate a value it cannot take (its address, path, body or geo)' })
        expect((events[0]!.cause as KavachError).message).toBe('currentGeo.countryCode must be a string (got number)')
        expect(ran).toEqual([])
      } finally {
        await app.close()
      }
    })
  }
})

describe('a polluted Object.prototype is no field of a request or of its headers', () => {
  // Each policy permits what a polluted field would make of `POST /Admin/Wipe`, which no route
  // serves and no policy permits as it is sent.
  const POLICIES: Policy[] = [
    { name: 'health', effect: 'permit', conditions: [{ action: 'health.create' }] },
    { name: 'wipe', effect: 'permit', conditions: [{ action: 'wipe.create' }] },
    { name: 'confirmed', effect: 'permit', conditions: [{ param_in: { field: 'confirm', values: ['yes'] } }] },
    { name: 'admins', effect: 'permit', conditions: [{ identity_role: 'admin' }] },
  ]
  // `url`: fastify's route pattern (`routeOptions.url`), which its not-found handler lacks.
  const POLLUTIONS: [string, unknown][] = [
    ['route', '/health'],
    ['url', '/health'],
    ['caseInsensitive', true],
    ['body', { confirm: 'yes' }],
    ['x-roles', 'admin'],
  ]
  const everyPolicy = (): Gate => Gate.fromObject({ policies: POLICIES })
  const wipe = (own: Partial<HttpRequestInfo> = {}): HttpRequestInfo => ({ method: 'POST', path: '/Admin/Wipe', headers: {}, ...own })
  const everyPollution = { ...Object.fromEntries(POLLUTIONS), ip: '203.0.113.9' }

  test('mw.evaluate and evaluateAsync: the request stays refused with each polluted field, and with all of them; own fields of those values are read', async () => {
    const mw = new HttpKavachMiddleware(everyPolicy())
    expect(mw.evaluate(wipe()).code).toBe('NO_POLICY_MATCH')
    expect(mw.evaluate(wipe({ route: '/health' })).isPermit).toBe(true)
    expect(mw.evaluate(wipe({ caseInsensitive: true })).isPermit).toBe(true)
    expect(mw.evaluate(wipe({ body: { confirm: 'yes' } })).isPermit).toBe(true)
    expect(mw.evaluate(wipe({ headers: { 'x-roles': 'admin' } })).isPermit).toBe(true)
    for (const [key, value] of POLLUTIONS) {
      expect([key, polluted(key, value, () => mw.evaluate(wipe())).code]).toEqual([key, 'NO_POLICY_MATCH'])
      expect([key, (await polluted(key, value, () => mw.evaluateAsync(wipe()))).code]).toEqual([key, 'NO_POLICY_MATCH'])
    }
    expect(pollutedWith(everyPollution, () => mw.evaluate(wipe())).code).toBe('NO_POLICY_MATCH')
    expect((await pollutedWith(everyPollution, () => mw.evaluateAsync(wipe()))).code).toBe('NO_POLICY_MATCH')
  })

  test('mw.shouldGate: a polluted Object.prototype.caseInsensitive folds no path into an excluded one', () => {
    const mw = new HttpKavachMiddleware(everyPolicy())
    expect(mw.shouldGate('POST', '/Health')).toBe(true)
    expect(mw.shouldGate('POST', '/Health', { caseInsensitive: true })).toBe(false)
    expect(polluted('caseInsensitive', true, () => mw.shouldGate('POST', '/Health'))).toBe(true)
    expect(polluted('caseInsensitive', true, () => mw.shouldGate('POST', '/Health', {}))).toBe(true)
  })

  test('mw.evaluate: a polluted Object.prototype.ip is no address, so a session seen from 10.0.0.1 is not taken to have moved', () => {
    const mw = new HttpKavachMiddleware(Gate.fromObject({ policies: [{ name: 'users', effect: 'permit', conditions: [] }] }, { enableDrift: true }), {
      identify: () => ({ principalId: 'alice', sessionId: 'sess-ip' }),
    })
    expect(mw.evaluate({ method: 'POST', path: '/notes', headers: {}, ip: '10.0.0.1' }).isPermit).toBe(true)
    expect(polluted('ip', '203.0.113.9', () => mw.evaluate({ method: 'POST', path: '/notes', headers: {} })).kind).toBe('permit')
    expect(mw.evaluate({ method: 'POST', path: '/notes', headers: {}, ip: '203.0.113.9' }).kind).toBe('invalidate')
  })

  // Fastify routes case-sensitively by default; the express app is told to, so both judge
  // `/Admin/Wipe` as `Wipe.create`.
  const SERVERS = [
    ['express', (g: Gate) => expressApp(g, {}, (a) => void a.enable('case sensitive routing').post('/refunds', (_req, res) => void res.json({ ok: 1 })))],
    ['fastify', (g: Gate) => fastifyApp(g, {}, (f) => void f.post('/refunds', async () => ({ ok: 1 })))],
  ] as const
  for (const [name, start] of SERVERS) {
    test(`${name}: POST /Admin/Wipe, which no route serves, stays 403 with each polluted field, and with all of them`, async () => {
      const app = await start(everyPolicy())
      const refused = { error: 'forbidden', code: 'NO_POLICY_MATCH', reason: "no policy permits 'Wipe.create' for principal 'anonymous' (default deny)" }
      try {
        expect((await send(app.port, 'POST', '/Admin/Wipe')).json).toEqual(refused)
        for (const [key, value] of POLLUTIONS) {
          const a = await polluted(key, value, () => send(app.port, 'POST', '/Admin/Wipe'))
          expect([key, a.status, a.json]).toEqual([key, 403, refused])
        }
        const all = await pollutedWith(everyPollution, () => send(app.port, 'POST', '/Admin/Wipe'))
        expect([all.status, all.json]).toEqual([403, refused])
      } finally {
        await app.close()
      }
    })
  }
})
