// HTTP integrations: HttpKavachMiddleware's core, and real express 5 and fastify 5 servers on
// loopback answering real fetch requests (permit, 403, 401, excluded paths, GET passthrough,
// identify, geoResolver, a Redis-backed gate). Path spellings, routes and refusal bodies:
// integrations-http-paths.test.ts.

import type { AddressInfo } from 'node:net'
import type { Server } from 'node:http'
import http2 from 'node:http2'

import express from 'express'
import Fastify, { type FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'

import {
  Gate,
  HttpKavachMiddleware,
  InvalidArgumentError,
  KavachError,
  RedisRateLimitStore,
  SyncNotSupportedError,
  type EvaluateOptions,
  createExpressMiddleware,
  createFastifyHook,
  deriveActionName,
  type HttpMiddlewareOptions,
  type HttpPrincipal,
  type HttpRequestInfo,
} from '../index'
import { REDIS_URL, uniquePrefix } from './fixtures/redis-helpers'

const POLICY = {
  policies: [
    { name: 'support_refunds', effect: 'permit' as const, conditions: [{ identity_role: 'support' }, { action: 'refunds.create' }, { param_max: { field: 'amount', max: 1000 } }] },
    { name: 'users_read', effect: 'permit' as const, conditions: [{ action: 'users.read' }] },
    { name: 'agents_update', effect: 'permit' as const, conditions: [{ identity_kind: 'agent' as const }, { action: 'orders.update' }] },
  ],
}

describe('deriveActionName and shouldGate', () => {
  test('the last segment that is not api, a version or digits, then the verb', () => {
    expect(deriveActionName('POST', '/api/v1/refunds')).toBe('refunds.create')
    expect(deriveActionName('DELETE', '/users/42')).toBe('users.delete')
    expect(deriveActionName('GET', '/api/v2/users/42/')).toBe('users.read')
    expect(deriveActionName('PUT', '/orders/7')).toBe('orders.update')
    expect(deriveActionName('PATCH', '/api/V3/orders')).toBe('orders.update')
    expect(deriveActionName('OPTIONS', '/api/things')).toBe('things.options')
    expect(deriveActionName('post', '/api/v1/refunds?dry=1')).toBe('refunds.create')
    expect(deriveActionName('POST', '/api/v1/42')).toBe('root.create')
  })

  test('defaults: mutations only; /health /ready /metrics and their sub-paths excluded, nothing else', () => {
    const mw = new HttpKavachMiddleware(Gate.fromObject(POLICY))
    expect(mw.shouldGate('GET', '/users')).toBe(false)
    expect(mw.shouldGate('HEAD', '/users')).toBe(false)
    expect(mw.shouldGate('POST', '/users')).toBe(true)
    expect(mw.shouldGate('DELETE', '/health/deep')).toBe(false)
    expect(mw.shouldGate('POST', '/metrics')).toBe(false)
    expect(mw.shouldGate('POST', '/health/?probe=1')).toBe(false)
    expect(mw.shouldGate('DELETE', '/healthcare/patients/7')).toBe(true)
    expect(mw.shouldGate('DELETE', '/readyz-config')).toBe(true)
    expect(mw.shouldGate('DELETE', '/metrics-admin/reset')).toBe(true)
    // Only a target already in canonical form is excluded.
    expect(mw.shouldGate('DELETE', '/%68ealth')).toBe(true)
    expect(mw.shouldGate('DELETE', '/health/../users/1')).toBe(true)
    const all = new HttpKavachMiddleware(Gate.fromObject(POLICY), { gateMutationsOnly: false, excludedPaths: ['/public'] })
    expect(all.shouldGate('GET', '/users')).toBe(true)
    expect(all.shouldGate('POST', '/health')).toBe(true)
    expect(all.shouldGate('POST', '/public/x')).toBe(false)
    expect(all.shouldGate('POST', '/publicity')).toBe(true)
  })
})

describe('HttpKavachMiddleware.evaluate', () => {
  const gate = Gate.fromObject(POLICY)
  const req = (over: Partial<HttpRequestInfo> = {}): HttpRequestInfo => ({
    method: 'POST',
    path: '/api/v1/refunds',
    headers: { 'x-principal-id': 'alice', 'x-roles': 'viewer, support' },
    body: { amount: 500, note: 'late', nested: { amount: 1 } },
    ...over,
  })

  test('headers give the principal, the body numbers and strings the params (synchronous)', () => {
    const mw = new HttpKavachMiddleware(gate)
    expect(mw.evaluate(req()).isPermit).toBe(true)
    expect(mw.evaluate(req({ body: { amount: 5000 } })).code).toBe('NO_POLICY_MATCH')
    expect(mw.evaluate(req({ headers: { 'x-principal-id': 'alice' } })).isPermit).toBe(false)
    // Missing principal: anonymous user; the kind header feeds identity_kind.
    expect(mw.evaluate(req({ method: 'PUT', path: '/orders/9', headers: {} })).isPermit).toBe(false)
    expect(mw.evaluate(req({ method: 'PUT', path: '/orders/9', headers: { 'x-principal-kind': 'agent' } })).isPermit).toBe(true)
    // A kind the gate does not know is the client's error: a refusal, not a thrown error.
    const bad = mw.evaluate(req({ headers: { 'x-principal-kind': 'root' } }))
    expect(bad).toMatchObject({ kind: 'refuse', code: 'INVALID_CONTEXT' })
    expect(bad.reason).toContain("'root'")
  })

  test('custom header names', async () => {
    const mw = new HttpKavachMiddleware(gate, { principalHeader: 'X-User', rolesHeader: 'X-Groups', kindHeader: 'X-Kind' })
    expect(mw.evaluate(req({ headers: { 'x-user': 'bob', 'x-groups': 'support' } })).isPermit).toBe(true)
    expect((await mw.evaluateAsync(req({ headers: { 'x-principal-id': 'bob', 'x-roles': 'support' } }))).isPermit).toBe(false)
  })

  test('geoResolver is called only when the request carries no geo of its own', () => {
    const seen: string[] = []
    const mw = new HttpKavachMiddleware(gate, {
      geoResolver: (r) => {
        seen.push(r.path)
        return { currentGeo: { countryCode: 'IN' } }
      },
    })
    mw.evaluate(req())
    mw.evaluate(req({ path: '/api/v1/refunds/with-geo', currentGeo: { countryCode: 'DE' } }))
    mw.evaluate(req({ path: '/api/v1/refunds/with-origin', originGeo: { countryCode: 'DE' } }))
    expect(seen).toEqual(['/api/v1/refunds'])
  })

  test('an async geoResolver: evaluateAsync waits for its geo; evaluate throws InvalidArgumentError naming it', async () => {
    const judged: EvaluateOptions[] = []
    const watched = Gate.fromObject(POLICY, { onVerdict: (_v, ctx) => void judged.push(ctx as EvaluateOptions) })
    const mw = new HttpKavachMiddleware(watched, { geoResolver: async () => ({ currentGeo: { countryCode: 'IN' }, originGeo: { countryCode: 'DE' } }) })
    expect((await mw.evaluateAsync(req())).isPermit).toBe(true)
    expect(judged.map((c) => [c.currentGeo?.countryCode, c.originGeo?.countryCode])).toEqual([['IN', 'DE']])
    expect(() => mw.evaluate(req())).toThrow(new InvalidArgumentError('geoResolver() returned a Promise: use evaluateAsync (express and fastify do)'))
    const rejecting = new HttpKavachMiddleware(watched, { geoResolver: () => Promise.reject(new Error('geo service down')) })
    await expect(rejecting.evaluateAsync(req())).rejects.toThrow('geo service down')
    // The synchronous path handles the rejection it does not wait for (nothing goes unhandled).
    expect(() => rejecting.evaluate(req())).toThrow(InvalidArgumentError)
    expect(judged).toHaveLength(1)
  })

  test('identify replaces the headers; sync evaluate refuses an async identify; a network gate needs evaluateAsync', async () => {
    const mw = new HttpKavachMiddleware(gate, { identify: (r) => (r.headers.authorization === 'Bearer good' ? { principalId: 'svc', roles: ['support'] } : undefined) })
    expect(mw.evaluate(req({ headers: { authorization: 'Bearer good' } })).isPermit).toBe(true)
    // The role header is ignored: identify said anonymous.
    expect(mw.evaluate(req()).isPermit).toBe(false)
    const asyncMw = new HttpKavachMiddleware(gate, { identify: async () => ({ principalId: 'svc', roles: ['support'] }) })
    expect(() => asyncMw.evaluate(req())).toThrow(InvalidArgumentError)
    expect((await asyncMw.evaluateAsync(req())).isPermit).toBe(true)
  })
})

// --- real servers ---

/** A request counter per route, to prove a refused handler never ran. */
const handled: string[] = []

/** The routes the real-server tests call (the gate judges the route a request reaches). */
const ROUTES: [method: 'get' | 'post' | 'put', path: string][] = [
  ['post', '/api/v1/refunds'],
  ['post', '/health'],
  ['post', '/metrics/prom'],
  ['get', '/api/v1/secrets'],
  ['post', '/api/v1/geo-a'],
  ['post', '/api/v1/geo-b'],
  ['post', '/orders'],
  ['put', '/orders/:id'],
]

interface Harness {
  base: string
  close(): Promise<void>
}

async function startExpress(gate: Gate, options: HttpMiddlewareOptions): Promise<Harness> {
  const app = express()
  app.use(express.json())
  app.use(createExpressMiddleware(gate, options))
  for (const [method, path] of ROUTES) {
    app[method](path, (req, res) => {
      handled.push(`express ${req.method} ${req.path}`)
      res.json({ ok: true })
    })
  }
  app.use((err: Error, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    res.status(500).json({ error: err.message })
  })
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s))
  })
  const { port } = server.address() as AddressInfo
  return { base: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(() => r())) }
}

async function startFastify(gate: Gate, options: HttpMiddlewareOptions): Promise<Harness> {
  const app: FastifyInstance = Fastify()
  app.addHook('preHandler', createFastifyHook(gate, options))
  for (const [method, path] of ROUTES) {
    app[method](path, async (request) => {
      handled.push(`fastify ${request.method} ${request.url.split('?')[0]}`)
      return { ok: true }
    })
  }
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as AddressInfo
  return { base: `http://127.0.0.1:${port}`, close: () => app.close() }
}

/** Identity from a bearer token the test "verified"; the device header feeds device drift. */
const identify = (r: HttpRequestInfo): HttpPrincipal | undefined => {
  const auth = r.headers.authorization
  if (auth !== 'Bearer support-token') return undefined
  const device = r.headers['x-device']
  return {
    principalId: 'carol',
    roles: ['support'],
    sessionId: 'http-session-1',
    device: typeof device === 'string' ? { hash: device } : undefined,
    currentGeo: r.headers['x-geo'] === 'explicit' ? { countryCode: 'FR' } : undefined,
  }
}

for (const [name, start] of [['express 5', startExpress], ['fastify 5', startFastify]] as const) {
  describe(`${name}: real server, real fetch`, () => {
    let plain: Harness
    let withIdentify: Harness
    const geoCalls: string[] = []
    const tag = name.split(' ')[0]!

    beforeAll(async () => {
      plain = await start(Gate.fromObject(POLICY), {})
      withIdentify = await start(Gate.fromObject(POLICY), {
        identify,
        geoResolver: (r) => {
          geoCalls.push(r.path)
          return { currentGeo: { countryCode: 'IN' } }
        },
      })
    })
    afterAll(async () => {
      await plain.close()
      await withIdentify.close()
    })

    const post = (h: Harness, path: string, body: unknown, headers: Record<string, string> = {}) =>
      fetch(`${h.base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) })

    test('permit: the handler runs', async () => {
      const r = await post(plain, '/api/v1/refunds', { amount: 100 }, { 'x-principal-id': 'alice', 'x-roles': 'support' })
      expect(r.status).toBe(200)
      expect(await r.json()).toEqual({ ok: true })
      expect(handled).toContain(`${tag} POST /api/v1/refunds`)
    })

    test('refuse: 403 with code and reason; the handler never runs', async () => {
      const before = handled.length
      const r = await post(plain, '/api/v1/refunds', { amount: 5000 }, { 'x-principal-id': 'alice', 'x-roles': 'support' })
      expect(r.status).toBe(403)
      const body = (await r.json()) as Record<string, string>
      expect(body.error).toBe('forbidden')
      expect(body.code).toBe('NO_POLICY_MATCH')
      expect(typeof body.reason).toBe('string')
      expect((await post(plain, '/api/v1/refunds', { amount: 1 }, { 'x-principal-kind': 'wizard' })).status).toBe(403)
      expect(handled.length).toBe(before)
    })

    test('excluded paths and GET pass ungated', async () => {
      const before = handled.length
      expect((await post(plain, '/health', {})).status).toBe(200)
      expect((await post(plain, '/metrics/prom', {})).status).toBe(200)
      expect((await fetch(`${plain.base}/api/v1/secrets`)).status).toBe(200)
      expect(handled.length).toBe(before + 3)
    })

    test('identify: the verified principal is used and the headers are ignored', async () => {
      const asAdmin = await post(withIdentify, '/api/v1/refunds', { amount: 10 }, { 'x-principal-id': 'root', 'x-roles': 'support' })
      expect(asAdmin.status).toBe(403)
      const verified = await post(withIdentify, '/api/v1/refunds', { amount: 10 }, { authorization: 'Bearer support-token', 'x-device': 'dev-a' })
      expect(verified.status).toBe(200)
    })

    test('invalidate: 401 session_invalidated (device drift within a session); the handler never runs', async () => {
      const before = handled.length
      const r = await post(withIdentify, '/api/v1/refunds', { amount: 10 }, { authorization: 'Bearer support-token', 'x-device': 'dev-b' })
      expect(r.status).toBe(401)
      const body = (await r.json()) as Record<string, string>
      expect(body.error).toBe('session_invalidated')
      // A generic reason: drift's own names the session's original device.
      expect(body.reason).toBe('the session was invalidated: the call does not match its context (ip, place or device)')
      expect(JSON.stringify(body)).not.toContain('dev-a')
      // The session stays revoked for the original device too.
      const again = await post(withIdentify, '/api/v1/refunds', { amount: 10 }, { authorization: 'Bearer support-token', 'x-device': 'dev-a' })
      expect(again.status).toBe(403)
      expect(((await again.json()) as Record<string, string>).code).toBe('SESSION_INVALID')
      expect(handled.length).toBe(before)
    })

    test('geoResolver runs only for requests without explicit geo', async () => {
      geoCalls.length = 0
      await post(withIdentify, '/api/v1/geo-a', {})
      await post(withIdentify, '/api/v1/geo-b', {}, { authorization: 'Bearer support-token', 'x-geo': 'explicit' })
      expect(geoCalls).toEqual(['/api/v1/geo-a'])
    })

    test('an async geoResolver: the geo it resolves reaches the gate', async () => {
      const judged: (string | undefined)[] = []
      const gate = Gate.fromObject(POLICY, { onVerdict: (_v, ctx) => void judged.push((ctx as EvaluateOptions).currentGeo?.countryCode) })
      const h = await start(gate, { geoResolver: async () => ({ currentGeo: { countryCode: 'IN' } }) })
      try {
        const r = await post(h, '/api/v1/refunds', { amount: 100 }, { 'x-principal-id': 'alice', 'x-roles': 'support' })
        expect(r.status).toBe(200)
        expect(judged).toEqual(['IN'])
      } finally {
        await h.close()
      }
    })
  })
}

/**
 * One HTTP/2 (h2c) request: `body` as DATA frames after the headers, or none, the HEADERS frame
 * then ending the stream.
 */
function h2Request(port: number, headers: http2.OutgoingHttpHeaders, body?: string): Promise<{ status: number; json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`)
    session.on('error', reject)
    const stream = session.request(headers, { endStream: body === undefined })
    let status = 0
    let data = ''
    stream.setEncoding('utf8')
    stream.on('response', (h) => (status = Number(h[':status'])))
    stream.on('data', (chunk: string) => (data += chunk))
    stream.on('end', () => {
      session.close()
      resolve({ status, json: JSON.parse(data) as Record<string, unknown> })
    })
    stream.on('error', reject)
    if (body !== undefined) stream.end(body)
  })
}

describe('fastify onRequest hook (before the body is parsed)', () => {
  test('HTTP/2: a body sent without content-length is refused where an invariant reads params; a request without a body is not', async () => {
    const gate = Gate.fromObject(
      { policies: [{ name: 'support_refunds', effect: 'permit', conditions: [{ identity_role: 'support' }, { action: 'refunds.create' }] }] },
      { invariants: [{ name: 'refund_cap', field: 'amount', maxValue: 1000 }] },
    )
    const app = Fastify({ http2: true })
    const refunded: unknown[] = []
    app.addHook('onRequest', createFastifyHook(gate, {}))
    app.post('/api/v1/refunds', async (request) => {
      refunded.push((request.body as { amount?: unknown } | undefined)?.amount)
      return { ok: true }
    })
    await app.listen({ port: 0, host: '127.0.0.1' })
    const { port } = app.server.address() as AddressInfo
    const headers = { ':method': 'POST', ':path': '/api/v1/refunds', 'x-principal-id': 'bob', 'x-roles': 'support' }
    try {
      for (const lengths of [{}, { 'content-length': '15' }]) {
        const sent = await h2Request(port, { ...headers, 'content-type': 'application/json', ...lengths }, '{"amount":5000}')
        expect(sent.status).toBe(403)
        expect(sent.json.code).toBe('INVALID_CONTEXT')
        expect(String(sent.json.reason)).toMatch(/^the request body was not parsed when the gate ran/)
      }
      // Known empty: the HEADERS frame ends the stream, or content-length is 0.
      expect((await h2Request(port, headers)).status).toBe(200)
      expect((await h2Request(port, { ...headers, 'content-length': '0' }, '')).status).toBe(200)
      expect(refunded).toEqual([undefined, undefined])
    } finally {
      await app.close()
    }
  })

  test('refuses with 403 before parsing; permits what needs no body params', async () => {
    const app = Fastify()
    let runs = 0
    app.addHook('onRequest', createFastifyHook(Gate.fromObject(POLICY), {}))
    for (const [method, path] of ROUTES) {
      app[method](path, async () => {
        runs++
        return { ok: true }
      })
    }
    await app.listen({ port: 0, host: '127.0.0.1' })
    const { port } = app.server.address() as AddressInfo
    try {
      const refused = await fetch(`http://127.0.0.1:${port}/api/v1/refunds`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-roles': 'support' }, body: '{"amount":1}' })
      // No body params at onRequest: param_max on a missing amount does not match, so no policy permits.
      expect(refused.status).toBe(403)
      const permitted = await fetch(`http://127.0.0.1:${port}/orders/3`, { method: 'PUT', headers: { 'x-principal-kind': 'agent' } })
      expect(permitted.status).toBe(200)
      expect(runs).toBe(1)
    } finally {
      await app.close()
    }
  })
})

describe('a Redis-backed gate behind express and fastify (real Redis)', () => {
  test('rate limit shared by both servers: the third request is 403 RATE_LIMIT_EXCEEDED', async () => {
    const rateStore = await RedisRateLimitStore.connect(REDIS_URL, { prefix: uniquePrefix('http-rate') })
    const gate = Gate.fromObject(
      { policies: [{ name: 'two_orders', effect: 'permit', conditions: [{ action: 'orders.create' }, { rate_limit: { max: 2, window: '1m' } }] }] },
      { rateStore },
    )
    expect(() => new HttpKavachMiddleware(gate).evaluate({ method: 'POST', path: '/orders', headers: {} })).toThrow(SyncNotSupportedError)
    const a = await startExpress(gate, {})
    const b = await startFastify(gate, {})
    try {
      const statuses: number[] = []
      for (const h of [a, b, a]) statuses.push((await fetch(`${h.base}/orders`, { method: 'POST' })).status)
      expect(statuses).toEqual([200, 200, 403])
      const r = await fetch(`${b.base}/orders`, { method: 'POST' })
      expect(((await r.json()) as Record<string, string>).code).toBe('RATE_LIMIT_EXCEEDED')
    } finally {
      await a.close()
      await b.close()
      rateStore.close()
    }
  })

  test('an identify that throws is 403 IDENTITY_FAILED without its message; the handler never runs', async () => {
    const options: HttpMiddlewareOptions = {
      identify: () => {
        throw new Error('token signature invalid')
      },
    }
    const a = await startExpress(Gate.fromObject(POLICY), options)
    const b = await startFastify(Gate.fromObject(POLICY), options)
    const before = handled.length
    try {
      for (const h of [a, b]) {
        const r = await fetch(`${h.base}/api/v1/refunds`, { method: 'POST' })
        expect(r.status).toBe(403)
        const body = await r.text()
        expect(JSON.parse(body)).toEqual({ error: 'forbidden', code: 'IDENTITY_FAILED', reason: 'identify() threw' })
        expect(body).not.toContain('token signature invalid')
      }
      expect(handled.length).toBe(before)
    } finally {
      await a.close()
      await b.close()
    }
  })
})

describe("identify's principal with a name the gate refuses (a verdict, not a throw)", () => {
  // The gate answers these names with an INVALID_CONTEXT verdict whose reason quotes the value.
  const CASES: [name: string, principal: HttpPrincipal, secret: string, field: string][] = [
    ['a 305-byte principalId', { principalId: `user-${'x'.repeat(300)}` }, 'x'.repeat(300), 'principalId is 305 bytes long'],
    ['a principalId with a tab', { principalId: 'alice\tsecret-tenant-42' }, 'secret-tenant-42', 'principalId'],
    ['a role with U+00AD', { principalId: 'alice', roles: ['billing', 'internal\u00adaudit'] }, 'internal', 'roles[1]'],
  ]

  for (const [name, principal, secret, field] of CASES) {
    test(`${name}: 403 IDENTITY_FAILED without the value; onRefusal gets the gate's reason as the cause`, async () => {
      const events: { verdict: { code?: string }; cause?: unknown }[] = []
      const options: HttpMiddlewareOptions = { identify: () => principal, onRefusal: (e) => void events.push(e) }
      const server = await startExpress(Gate.fromObject(POLICY), options)
      const before = handled.length
      try {
        const r = await fetch(`${server.base}/api/v1/refunds`, { method: 'POST' })
        expect(r.status).toBe(403)
        const body = await r.text()
        expect(JSON.parse(body)).toEqual({ error: 'forbidden', code: 'IDENTITY_FAILED', reason: 'identify() returned a principal the gate cannot take' })
        expect(body).not.toContain(secret)
        expect(handled.length).toBe(before)
        expect(events).toHaveLength(1)
        expect(events[0]!.verdict.code).toBe('IDENTITY_FAILED')
        expect(events[0]!.cause).toBeInstanceOf(KavachError)
        expect((events[0]!.cause as KavachError).code).toBe('INVALID_CONTEXT')
        expect((events[0]!.cause as Error).message).toContain(field)
      } finally {
        await server.close()
      }
      // The synchronous path answers the same.
      events.length = 0
      const v = new HttpKavachMiddleware(Gate.fromObject(POLICY), options).evaluate({ method: 'POST', path: '/api/v1/refunds', headers: {} })
      expect([v.code, v.reason]).toEqual(['IDENTITY_FAILED', 'identify() returned a principal the gate cannot take'])
      expect((events[0]!.cause as Error).message).toContain(field)
    })
  }

  test('the same name from the headers keeps the gate\'s INVALID_CONTEXT reason: the client sent it', async () => {
    const server = await startExpress(Gate.fromObject(POLICY), {})
    try {
      const r = await fetch(`${server.base}/api/v1/refunds`, { method: 'POST', headers: { 'x-principal-id': `user-${'x'.repeat(300)}` } })
      expect(r.status).toBe(403)
      expect(await r.json()).toEqual({ error: 'forbidden', code: 'INVALID_CONTEXT', reason: 'principalId is 305 bytes long, over the limit of 256 bytes' })
    } finally {
      await server.close()
    }
  })
})
