// HTTP middleware against real express 5 and fastify 5 servers, with generated request bodies
// and query strings: JSON objects, arrays and scalars, form-encoded fields (bracket syntax
// included), text and raw bytes, whose `amount` and `qty` fields take every kind of value
// (numbers past the caps, numeric strings, booleans, null, arrays, objects). The gate caps
// `amount` at 1000 with an invariant and refuses `qty` >= 100 with a refuse policy. The
// invariant: whenever a handler runs, what it can read from the body (parsing text and bytes
// itself, taking an array's first element) has an `amount` that is absent or a finite number
// <= 1000 and a numeric `qty` below 100, and its query string has neither (the gate reads
// params from the body only, so a query field a rule reads is refused). A `qty` sent as a
// string passes a refuse policy's bound: POLICY.md documents it, and `kavach lint` reports it
// as refuse_skips_strings. Servers: express with its parsers before the middleware and after
// it, fastify with the hook in preHandler and in onRequest. Seeded; BODIES_SEED and
// BODIES_RUNS run other and more bodies.

import type { AddressInfo } from 'node:net'
import type { Server } from 'node:http'

import express from 'express'
import fc from 'fast-check'
import Fastify from 'fastify'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'

import { Gate, createExpressMiddleware, createFastifyHook } from '../index'

const CAP = 1000
const BULK = 100

function newGate(): Gate {
  return Gate.fromObject(
    {
      policies: [
        { name: 'no_bulk', effect: 'refuse', priority: 1, conditions: [{ action: 'refunds.create' }, { param_min: { field: 'qty', min: BULK } }] },
        { name: 'support_refunds', effect: 'permit', conditions: [{ identity_role: 'support' }, { action: 'refunds.create' }] },
      ],
    },
    { invariants: [{ name: 'cap', field: 'amount', maxValue: CAP }] },
  )
}

interface Body {
  contentType: string | undefined
  text: string
}

const value = fc.oneof(
  fc.integer({ min: -10, max: 10 * CAP }),
  fc.double({ noNaN: true }),
  fc.constantFrom(0, CAP, CAP + 1, BULK - 1, BULK, 1e400, -1e400, 1e308),
  fc.integer({ min: 0, max: 10 * CAP }).map(String),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.integer({ min: 0, max: 10 * CAP }), { maxLength: 3 }),
  fc.dictionary(fc.constantFrom('value', 'amount', '0'), fc.integer({ min: 0, max: 10 * CAP }), { maxKeys: 2 }),
  fc.string({ maxLength: 8 }),
)
const record = fc.record(
  { amount: value, qty: value, note: value, Amount: value },
  { requiredKeys: [] },
)

/** A value in form encoding, as express's extended (qs) parser reads it back. */
function formPairs(name: string, v: unknown): string[] {
  if (Array.isArray(v)) return v.flatMap((x, i) => formPairs(i % 2 === 0 ? `${name}[]` : `${name}[${i}]`, x))
  if (v !== null && typeof v === 'object') return Object.entries(v).flatMap(([k, x]) => formPairs(`${name}[${k}]`, x))
  return [`${encodeURIComponent(name)}=${encodeURIComponent(String(v))}`]
}

const body: fc.Arbitrary<Body> = fc.oneof(
  record.map((r) => ({ contentType: 'application/json', text: JSON.stringify(r) })),
  fc.array(record, { minLength: 1, maxLength: 2 }).map((a) => ({ contentType: 'application/json', text: JSON.stringify(a) })),
  value.map((v) => ({ contentType: 'application/json', text: JSON.stringify(v) ?? 'null' })),
  record.map((r) => ({ contentType: 'application/x-www-form-urlencoded', text: Object.entries(r).flatMap(([k, v]) => formPairs(k, v)).join('&') })),
  record.map((r) => ({ contentType: 'text/plain', text: JSON.stringify(r) })),
  record.map((r) => ({ contentType: 'application/octet-stream', text: JSON.stringify(r) })),
  record.map((r) => ({ contentType: undefined, text: JSON.stringify(r) })),
  fc.constant({ contentType: 'application/json', text: '' }),
  fc.constant({ contentType: undefined, text: '' }),
)

/** A query string: none, fields no rule reads, or amount / qty plain, percent-encoded or with brackets. */
const query: fc.Arbitrary<string> = fc.oneof(
  fc.constant(''),
  fc.constant('?page=2&sort=desc'),
  fc.tuple(fc.constantFrom('amount', 'qty', '%61mount', 'amount[]', 'qty[x]', 'Amount'), fc.constantFrom('5', '5000', 'x')).map(([k, v]) => `?page=1&${k}=${v}`),
)

const BODIES = fc.sample(fc.noBias(fc.tuple(body, query).map(([b, q]) => ({ ...b, query: q }))), {
  seed: Number(process.env.BODIES_SEED ?? 20261207),
  numRuns: Number(process.env.BODIES_RUNS ?? 250),
})

/** What a handler can make of the body it was given: parsing text and bytes, taking an array's first element. */
function readable(b: unknown): Record<string, unknown> | undefined {
  let v = b
  if (Buffer.isBuffer(v)) v = v.toString('utf8')
  if (typeof v === 'string') {
    try {
      v = JSON.parse(v)
    } catch {
      v = Object.fromEntries(new URLSearchParams(v as string))
    }
  }
  if (Array.isArray(v)) v = v[0]
  return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : undefined
}

/** Why what a handler read breaks the rules, or undefined. */
function breach(seen: { body: unknown; query: unknown }): string | undefined {
  const fromQuery = Object.keys(seen.query ?? {}).find((k) => ['amount', 'qty'].includes(k.split('[')[0]!))
  if (fromQuery !== undefined) return `query field ${fromQuery}, which the gate does not read, reached the handler`
  const r = readable(seen.body)
  if (r === undefined) return undefined
  const amount = r.amount
  if (amount !== undefined && !(typeof amount === 'number' && Number.isFinite(amount) && amount <= CAP)) return `amount ${JSON.stringify(amount)} reached the handler`
  if (typeof r.qty === 'number' && r.qty >= BULK) return `qty ${r.qty} reached the handler`
  return undefined
}

interface App {
  name: string
  base: string
  seen: { body: unknown; query: unknown }[]
  close(): Promise<void>
}

async function expressApp(name: string, parsersFirst: boolean): Promise<App> {
  const seen: App['seen'] = []
  const app = express()
  const parsers = [express.json({ strict: false }), express.urlencoded({ extended: true }), express.text(), express.raw({ type: 'application/octet-stream' })]
  if (parsersFirst) for (const p of parsers) app.use(p)
  app.use(createExpressMiddleware(newGate()))
  if (!parsersFirst) for (const p of parsers) app.use(p)
  app.post('/api/v1/refunds', (req, res) => {
    seen.push({ body: req.body, query: req.query })
    res.json({ ok: true })
  })
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s))
  })
  const { port } = server.address() as AddressInfo
  return { name, base: `http://127.0.0.1:${port}`, seen, close: () => new Promise((r) => server.close(() => r())) }
}

async function fastifyApp(name: string, hook: 'preHandler' | 'onRequest'): Promise<App> {
  const seen: App['seen'] = []
  const app = Fastify()
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, text, done) => done(null, Object.fromEntries(new URLSearchParams(text as string))))
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (_req, bytes, done) => done(null, bytes))
  app.addHook(hook, createFastifyHook(newGate()))
  app.post('/api/v1/refunds', async (request) => {
    seen.push({ body: request.body, query: request.query })
    return { ok: true }
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as AddressInfo
  return { name, base: `http://127.0.0.1:${port}`, seen, close: () => app.close() }
}

describe(`generated request bodies (${BODIES.length} per server): a handler never gets past a cap`, () => {
  let apps: App[] = []
  beforeAll(async () => {
    apps = await Promise.all([
      expressApp('express, parsers before the middleware', true),
      expressApp('express, parsers after the middleware', false),
      fastifyApp('fastify preHandler', 'preHandler'),
      fastifyApp('fastify onRequest', 'onRequest'),
    ])
  })
  afterAll(async () => {
    await Promise.all(apps.map((a) => a.close()))
  })

  test('every handled body keeps amount <= 1000 and a numeric qty < 100; refusals are 403s', async () => {
    const breaches: string[] = []
    const statuses = new Map<string, number>()
    for (const app of apps) {
      for (const b of BODIES) {
        const before = app.seen.length
        const headers: Record<string, string> = { 'x-principal-id': 'alice', 'x-roles': 'support' }
        if (b.contentType !== undefined) headers['content-type'] = b.contentType
        const r = await fetch(`${app.base}/api/v1/refunds${b.query}`, { method: 'POST', headers, body: b.text })
        const answer = (await r.json().catch(() => undefined)) as { code?: string } | undefined
        const key = `${app.name} ${r.status} ${answer?.code ?? ''}`
        statuses.set(key, (statuses.get(key) ?? 0) + 1)
        if (app.seen.length > before) {
          if (r.status !== 200) breaches.push(`${app.name}: the handler ran but the answer was ${r.status} (${b.query} ${b.contentType} ${b.text})`)
          const why = breach(app.seen[app.seen.length - 1])
          if (why !== undefined) breaches.push(`${app.name}: ${why} (${b.query} ${b.contentType} ${b.text})`)
        } else if (![400, 403, 415].includes(r.status)) {
          breaches.push(`${app.name}: answered ${r.status} without running the handler (${b.query} ${b.contentType} ${b.text})`)
        }
      }
    }
    expect(breaches).toEqual([])
    // Not vacuous: every server ran the handler for some bodies and refused others.
    for (const app of apps) {
      expect([...statuses].filter(([k]) => k.startsWith(`${app.name} 200`)).length, app.name).toBeGreaterThan(0)
      expect([...statuses].filter(([k]) => k.startsWith(`${app.name} 403`)).length, app.name).toBeGreaterThan(0)
    }
  }, 120_000)
})
