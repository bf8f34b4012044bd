// A tool input or request body field the gate cannot be given (a boolean, an array, an object,
// null, NaN, ±Infinity, a bigint) while a policy condition or an invariant reads a param of
// that name: every integration refuses the call with INVALID_CONTEXT naming the param, and the
// tool or handler never runs. Left out silently, the field would let that rule judge the call
// as if it were absent, while the handler still received it (`{"amount":[5000]}` past an
// invariant capping `amount` at 1000). Fields no rule reads are still left out, and the call
// goes on. Real express 5 and fastify 5 servers, the MCP SDK's client and server, `tool()` of
// the AI SDK and of OpenAI Agents JS; and seeded generated tool inputs (every kind of value,
// arrays, raw bytes), of which a tool may run only on those no rule was skipped for.

import type { AddressInfo } from 'node:net'
import type { Server } from 'node:http'
import { inspect } from 'node:util'

import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js'
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { tool as agentTool } from '@openai/agents'
import { tool as aiTool } from 'ai'
import express from 'express'
import fc from 'fast-check'
import Fastify from 'fastify'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { z } from 'zod'

import {
  Gate,
  McpKavachMiddleware,
  Refused,
  createExpressMiddleware,
  createFastifyHook,
  gateMcpServer,
  guardAgentTools,
  guardTools,
  type Caller,
  type Verdict,
} from '../index'

/** Refunds are permitted; an invariant caps `amount`, a refuse policy bounds `qty`. */
function newGate(verdicts: Verdict[] = []): Gate {
  return Gate.fromObject(
    {
      policies: [
        { name: 'no_bulk', effect: 'refuse', priority: 1, conditions: [{ param_min: { field: 'qty', min: 100 } }] },
        { name: 'support_http_refunds', effect: 'permit', conditions: [{ identity_role: 'support' }, { action: 'refunds.create' }] },
        { name: 'support_tool_refunds', effect: 'permit', conditions: [{ identity_role: 'support' }, { action: 'refund' }] },
      ],
    },
    { invariants: [{ name: 'cap', field: 'amount', maxValue: 1000 }], onVerdict: (v) => verdicts.push(v) },
  )
}

describe('gate.readsParam', () => {
  test('names the params of conditions and invariants, in NFC, following reloads', () => {
    const gate = newGate()
    expect([gate.readsParam('amount'), gate.readsParam('qty'), gate.readsParam('notify'), gate.readsParam('Amount')]).toEqual([true, true, false, false])
    gate.reloadObject({ policies: [{ name: 'by_country', effect: 'permit', conditions: [{ param_in: { field: 'Türkiye', values: ['x'] } }] }] })
    expect([gate.readsParam('Tu\u0308rkiye'), gate.readsParam('qty'), gate.readsParam('amount')]).toEqual([true, false, true])
    expect(() => gate.readsParam(5 as unknown as string)).toThrow(/gate\.readsParam: name must be a string \(got number\)/)
  })
})

/** JSON bodies whose `amount` the gate cannot read, and how the refusal names each. */
const UNREADABLE_BODIES: [body: string, got: string][] = [
  ['{"amount":[5000]}', 'array'],
  ['{"amount":null}', 'null'],
  ['{"amount":true}', 'boolean'],
  ['{"amount":{"value":5000}}', 'object'],
  ['{"amount":1e400}', 'Infinity'],
  ['{"amount":10,"qty":[500]}', 'array'],
]

const reasonFor = (param: string, got: string): string =>
  `param '${param}' must be a finite number or a string, got ${got}, and a policy or invariant of this gate reads it`

interface Harness {
  base: string
  handled: unknown[]
  close(): Promise<void>
}

async function startExpress(gate: Gate): Promise<Harness> {
  const handled: unknown[] = []
  const app = express()
  app.use(express.json())
  app.use(createExpressMiddleware(gate))
  app.post('/api/v1/refunds', (req, res) => {
    handled.push(req.body)
    res.json({ ok: true })
  })
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s))
  })
  const { port } = server.address() as AddressInfo
  return { base: `http://127.0.0.1:${port}`, handled, close: () => new Promise((r) => server.close(() => r())) }
}

async function startFastify(gate: Gate): Promise<Harness> {
  const handled: unknown[] = []
  const app = Fastify()
  app.addHook('preHandler', createFastifyHook(gate))
  app.post('/api/v1/refunds', async (request) => {
    handled.push(request.body)
    return { ok: true }
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as AddressInfo
  return { base: `http://127.0.0.1:${port}`, handled, close: () => app.close() }
}

for (const [name, start] of [['express 5', startExpress], ['fastify 5', startFastify]] as const) {
  describe(`${name}: request bodies`, () => {
    const verdicts: Verdict[] = []
    let server: Harness
    beforeAll(async () => {
      server = await start(newGate(verdicts))
    })
    afterAll(() => server.close())

    const post = (body: string) =>
      fetch(`${server.base}/api/v1/refunds`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-principal-id': 'alice', 'x-roles': 'support' }, body })

    test('a field a rule reads, of a kind the gate cannot read: 403 INVALID_CONTEXT, the handler never runs', async () => {
      for (const [body, got] of UNREADABLE_BODIES) {
        const r = await post(body)
        expect(r.status, body).toBe(403)
        const param = body.includes('qty') ? 'qty' : 'amount'
        expect(await r.json(), body).toEqual({ error: 'forbidden', code: 'INVALID_CONTEXT', reason: reasonFor(param, got) })
      }
      expect(server.handled).toEqual([])
      // Recorded as the gate's verdicts, with the caller the middleware identified.
      const refusals = verdicts.filter((v) => v.code === 'INVALID_CONTEXT')
      expect(refusals.length).toBe(UNREADABLE_BODIES.length)
      expect(refusals.every((v) => v.evaluator === 'http')).toBe(true)
    })

    test('a query-string field a rule reads is refused (the gate reads the body); other query fields pass', async () => {
      const postTo = (target: string, body: string) =>
        fetch(`${server.base}${target}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-principal-id': 'alice', 'x-roles': 'support' }, body })
      const handled = server.handled.length
      for (const [target, param] of [
        ['/api/v1/refunds?amount=5000', 'amount'],
        ['/api/v1/refunds?page=2&amount[]=5000', 'amount'],
        ['/api/v1/refunds?%61mount=5', 'amount'],
        ['/api/v1/refunds?qty[x]=500', 'qty'],
      ] as const) {
        const r = await postTo(target, '{"amount":5}')
        expect([r.status, await r.json()], target).toEqual([
          403,
          { error: 'forbidden', code: 'INVALID_CONTEXT', reason: `param '${param}' came in the query string, which the gate does not read (it reads the body), and a policy or invariant of this gate reads it` },
        ])
      }
      expect(server.handled.length).toBe(handled)
      expect((await postTo('/api/v1/refunds?page=2&sort=desc&Amount=9', '{"amount":5}')).status).toBe(200)
      expect(server.handled.length).toBe(handled + 1)
      server.handled.length = handled
    })

    test('fields no rule reads are left out; the rules judge the rest', async () => {
      const body = { amount: 500, notify: true, items: [1, 2], note: null, meta: { a: 1 } }
      expect((await post(JSON.stringify(body))).status).toBe(200)
      expect(server.handled).toEqual([body])
      const over = await post('{"amount":5000,"notify":true}')
      expect(over.status).toBe(403)
      expect(((await over.json()) as { code: string }).code).toBe('INVARIANT_VIOLATION')
      expect(((await (await post('{"amount":5,"qty":500}')).json()) as { code: string }).code).toBe('POLICY_DENIED')
      expect(server.handled.length).toBe(1)
    })
  })
}

const UNPARSED = 'the request body was not parsed when the gate ran (gate after the body parser: express.json() before the middleware, fastify preHandler rather than onRequest)'
const bodyWithout = (what: string, action: string): string =>
  `${what}, and an invariant or a refuse policy that can apply to '${action}' reads params`

describe('request bodies the gate cannot read as fields', () => {
  const headers = { 'x-principal-id': 'alice', 'x-roles': 'support' }
  const json = { ...headers, 'content-type': 'application/json' }
  /** A gate whose rules all fail closed without params: no invariant, no refuse policy reading one. */
  const plainGate = () =>
    Gate.fromObject({
      policies: [
        { name: 'hooks', effect: 'permit', conditions: [{ action: 'webhooks.create' }] },
        { name: 'small_refunds', effect: 'permit', conditions: [{ action: 'refunds.create' }, { param_max: { field: 'amount', max: 1000 } }] },
      ],
    })

  test('fastify onRequest (before parsing): refused where an invariant would be skipped; the handler never runs', async () => {
    const handled: unknown[] = []
    const app = Fastify()
    app.addHook('onRequest', createFastifyHook(newGate()))
    app.post('/api/v1/refunds', async (request) => {
      handled.push(request.body)
      return { ok: true }
    })
    await app.listen({ port: 0, host: '127.0.0.1' })
    const { port } = app.server.address() as AddressInfo
    try {
      const r = await fetch(`http://127.0.0.1:${port}/api/v1/refunds`, { method: 'POST', headers: json, body: '{"amount":5000}' })
      expect([r.status, await r.json()]).toEqual([403, { error: 'forbidden', code: 'INVALID_CONTEXT', reason: bodyWithout(UNPARSED, 'refunds.create') }])
      expect(handled).toEqual([])
      // No body at all: nothing is skipped; the call is judged, and permitted.
      const empty = await fetch(`http://127.0.0.1:${port}/api/v1/refunds`, { method: 'POST', headers })
      expect(empty.status).toBe(200)
      expect(handled).toEqual([undefined])
    } finally {
      await app.close()
    }
  })

  test('express: the middleware mounted before express.json(), raw bytes, text and a JSON array', async () => {
    const handled: unknown[] = []
    const start = async (gate: Gate, parsers: express.RequestHandler[], before: express.RequestHandler[] = []) => {
      const app = express()
      for (const p of before) app.use(p)
      app.use(createExpressMiddleware(gate))
      for (const p of parsers) app.use(p)
      app.post(['/api/v1/refunds', '/webhooks'], (req, res) => {
        handled.push(req.body)
        res.json({ ok: true })
      })
      const server: Server = await new Promise((resolve) => {
        const s = app.listen(0, '127.0.0.1', () => resolve(s))
      })
      return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => new Promise<void>((r) => server.close(() => r())) }
    }
    const misordered = await start(newGate(), [express.json()])
    const parsed = await start(newGate(), [], [express.json(), express.raw({ type: 'application/octet-stream' }), express.text()])
    const webhooks = await start(plainGate(), [], [express.raw({ type: '*/*' })])
    try {
      const post = (base: string, path: string, type: string, body: string | Buffer) => fetch(`${base}${path}`, { method: 'POST', headers: { ...headers, 'content-type': type }, body })
      const refusal = async (r: Response) => [r.status, await r.json()]
      expect(await refusal(await post(misordered.base, '/api/v1/refunds', 'application/json', '{"amount":5000}'))).toEqual([
        403,
        { error: 'forbidden', code: 'INVALID_CONTEXT', reason: bodyWithout(UNPARSED, 'refunds.create') },
      ])
      const cases: [type: string, body: string | Buffer, what: string][] = [
        ['application/octet-stream', Buffer.from('{"amount":5000}'), 'raw bytes'],
        ['text/plain', 'amount=5000', 'text'],
        ['application/json', '[{"amount":5000}]', 'an array'],
      ]
      for (const [type, body, what] of cases) {
        expect(await refusal(await post(parsed.base, '/api/v1/refunds', type, body)), type).toEqual([
          403,
          { error: 'forbidden', code: 'INVALID_CONTEXT', reason: bodyWithout(`the request body is ${what}, whose fields the gate cannot read`, 'refunds.create') },
        ])
      }
      expect(handled).toEqual([])
      // A gate none of whose rules a missing param could get past: raw bytes are judged as no
      // params (not as a record of their indices, which would be thousands of params).
      const hook = await post(webhooks.base, '/webhooks', 'application/octet-stream', Buffer.alloc(4000, 65))
      expect(hook.status).toBe(200)
      expect(handled.length).toBe(1)
    } finally {
      await Promise.all([misordered.close(), parsed.close(), webhooks.close()])
    }
  })
})

const mcpCaller = { callerId: 'agent-1', roles: ['support'] }

describe('McpKavachMiddleware', () => {
  test('evaluateToolCall refuses a field a rule reads that it cannot forward; guardTool does not run the handler', async () => {
    const mw = new McpKavachMiddleware(newGate())
    const unreadable: [unknown, string][] = [
      [[5000], 'array'],
      [NaN, 'NaN'],
      [-Infinity, '-Infinity'],
      [5000n, 'bigint'],
      [false, 'boolean'],
      [null, 'null'],
      [{ valueOf: () => 5000 }, 'object'],
    ]
    for (const [amount, got] of unreadable) {
      const v = await mw.evaluateToolCall('refund', { amount }, mcpCaller)
      expect([v.kind, v.code, v.evaluator, v.reason], got).toEqual(['refuse', 'INVALID_CONTEXT', 'mcp', reasonFor('amount', got)])
    }
    const ran: unknown[] = []
    const refund = mw.guardTool('refund', async (input: { amount: unknown }) => ran.push(input.amount), mcpCaller)
    await expect(refund({ amount: [5000] })).rejects.toThrow(Refused)
    await expect(refund({ amount: [5000] })).rejects.toMatchObject({ code: 'INVALID_CONTEXT' })
    expect(ran).toEqual([])
    // Among many fields left out, the first one a rule reads (in the input's order) is named.
    const wide: Record<string, unknown> = {}
    for (let i = 0; i < 5000; i++) wide[`flag${i}`] = i % 2 === 0
    wide.qty = null
    wide.amount = [1]
    expect((await mw.evaluateToolCall('refund', wide, mcpCaller)).reason).toBe(reasonFor('qty', 'null'))
    delete wide.qty
    expect((await mw.evaluateToolCall('refund', wide, mcpCaller)).reason).toBe(reasonFor('amount', 'array'))
    delete wide.amount
    expect((await mw.evaluateToolCall('refund', wide, mcpCaller)).kind).toBe('permit')
    // An input with no fields to read: refused where a rule would be skipped, judged otherwise.
    const text = await mw.evaluateToolCall('refund', 'amount=5000', mcpCaller)
    expect([text.code, text.reason]).toEqual(['INVALID_CONTEXT', bodyWithout("the input of 'refund' is text, whose fields the gate cannot read", 'refund')])
    const map = await mw.evaluateToolCall('refund', new Map([['amount', 5000]]), mcpCaller)
    expect(map.reason).toBe(bodyWithout("the input of 'refund' is a Map, whose fields the gate cannot read", 'refund'))
    const plain = new McpKavachMiddleware(Gate.fromObject({ policies: [{ name: 'p', effect: 'permit', conditions: [{ action: 'refund' }] }] }))
    expect((await plain.evaluateToolCall('refund', 'amount=5000', mcpCaller)).kind).toBe('permit')
    // Absent (undefined) is absent; a field no rule reads is left out.
    expect((await mw.evaluateToolCall('refund', { amount: undefined, dryRun: true, tags: ['x'] }, mcpCaller)).kind).toBe('permit')
    expect((await mw.evaluateToolCall('refund', { amount: 5000, dryRun: true }, mcpCaller)).code).toBe('INVARIANT_VIOLATION')
  })

  test('gateMcpServer: the MCP client reads the refusal; the tool never runs', async () => {
    const ran: unknown[] = []
    const server = new McpServer({ name: 'gated', version: '1.0.0' })
    // A loose input schema: the SDK passes the array through to the gate.
    server.registerTool('refund', { inputSchema: { amount: z.unknown() } }, ({ amount }) => {
      ran.push(amount)
      return { content: [{ type: 'text', text: 'refunded' }] }
    })
    gateMcpServer(server, newGate(), { identify: () => mcpCaller })
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair()
    await server.connect(serverSide)
    const client = new Client({ name: 'test-client', version: '1.0.0' })
    await client.connect(clientSide)
    try {
      const r = (await client.callTool({ name: 'refund', arguments: { amount: [5000] } })) as { content: { text: string }[]; isError?: boolean }
      expect(r.isError).toBe(true)
      expect(r.content[0]!.text).toBe(`kavach refused 'refund': INVALID_CONTEXT: ${reasonFor('amount', 'array')}`)
      expect(ran).toEqual([])
      const ok = (await client.callTool({ name: 'refund', arguments: { amount: 10 } })) as { isError?: boolean }
      expect(ok.isError).toBeFalsy()
      expect(ran).toEqual([10])
    } finally {
      await client.close()
      await server.close()
    }
  })
})

const support: Caller = { principalId: 'agent-7', principalKind: 'agent', roles: ['support'] }
const amounts = z.object({ amount: z.union([z.number(), z.array(z.number()), z.boolean()]) })

describe('agent tool kits', () => {
  test('guardTools (AI SDK): the refusal is the tool result; execute never runs', async () => {
    const ran: unknown[] = []
    const refund = aiTool({ description: 'Refund', inputSchema: amounts, execute: async ({ amount }) => ran.push(amount) })
    const tools = guardTools(newGate(), { refund }, { caller: support })
    const options = { toolCallId: 'c1', messages: [] }
    await expect(tools.refund.execute!({ amount: [5000] }, options)).resolves.toEqual({ refused: true, code: 'INVALID_CONTEXT', reason: reasonFor('amount', 'array') })
    await expect(tools.refund.execute!({ amount: true }, options)).resolves.toMatchObject({ refused: true, code: 'INVALID_CONTEXT' })
    expect(ran).toEqual([])
    await tools.refund.execute!({ amount: 10 }, options)
    expect(ran).toEqual([10])
  })

  test('guardAgentTools (OpenAI Agents): the refusal is the tool output; execute never runs', async () => {
    const ran: unknown[] = []
    const refund = agentTool({
      name: 'refund',
      description: 'Refund',
      parameters: amounts,
      execute: async ({ amount }) => {
        ran.push(amount)
        return `refunded ${String(amount)}`
      },
    })
    type Invocable = { invoke(rc: unknown, input: string, details?: unknown): Promise<unknown> }
    const [gated] = guardAgentTools(newGate(), [refund], { caller: support }) as unknown as Invocable[]
    await expect(gated!.invoke({ context: {} }, '{"amount":[5000]}')).resolves.toEqual({ refused: true, code: 'INVALID_CONTEXT', reason: reasonFor('amount', 'array') })
    expect(ran).toEqual([])
    await expect(gated!.invoke({ context: {} }, '{"amount":10}')).resolves.toBe('refunded 10')
    expect(ran).toEqual([10])
  })
})

describe('generated tool inputs (seeded; TOOL_INPUTS_SEED / TOOL_INPUTS_RUNS for more)', () => {
  const value = fc.oneof(
    fc.double(),
    fc.integer({ min: -10, max: 5000 }),
    fc.constantFrom(1000, 1001, 99, 100, -0, Infinity, NaN, Number.MAX_VALUE),
    fc.integer({ min: 0, max: 5000 }).map(String),
    fc.boolean(),
    fc.constantFrom(null, undefined),
    fc.bigInt({ min: 0n, max: 5000n }),
    fc.array(fc.integer({ min: 0, max: 5000 }), { maxLength: 2 }),
    fc.record({ value: fc.integer({ min: 0, max: 5000 }) }),
    fc.date({ noInvalidDate: true }),
  )
  const input = fc.oneof(
    fc.record({ amount: value, qty: value, note: value }, { requiredKeys: [] }),
    fc.array(fc.record({ amount: value }), { maxLength: 2 }),
    value,
    fc.constant(Buffer.from('{"amount":5000}')),
  )
  const inputs = fc.sample(fc.noBias(input), { seed: Number(process.env.TOOL_INPUTS_SEED ?? 20261207), numRuns: Number(process.env.TOOL_INPUTS_RUNS ?? 300) })

  /** Why a tool that ran on `seen` ran past a rule, or undefined. */
  const breach = (seen: unknown): string | undefined => {
    const r = (Array.isArray(seen) ? seen[0] : seen) as { amount?: unknown; qty?: unknown } | undefined
    if (Buffer.isBuffer(seen)) return 'raw bytes reached the tool'
    if (typeof r !== 'object' || r === null) return undefined
    if (r.amount !== undefined && !(typeof r.amount === 'number' && Number.isFinite(r.amount) && r.amount <= 1000)) return `amount ${inspect(r.amount)} reached the tool`
    if (typeof r.qty === 'number' && r.qty >= 100) return `qty ${r.qty} reached the tool`
    return undefined
  }

  test('a tool runs only on input whose amount is absent or a finite number <= 1000 and whose numeric qty is < 100', async () => {
    const ran: unknown[] = []
    const record = async (i: unknown, _options?: unknown) => ran.push(i)
    const mcp = new McpKavachMiddleware(newGate()).guardTool('refund', record, mcpCaller)
    const ai = guardTools(newGate(), { refund: { execute: record } }, { caller: support }).refund
    const breaches: string[] = []
    let refused = 0
    for (const i of inputs) {
      for (const [name, call] of [
        ['McpKavachMiddleware.guardTool', () => mcp(i as never)],
        ['guardTools execute', () => ai.execute(i, { toolCallId: 'c', messages: [] })],
      ] as const) {
        const before = ran.length
        const out = await (call as () => Promise<unknown>)().catch((e: unknown) => e)
        if (ran.length === before) {
          refused++
          // Not run: a refusal, thrown (MCP) or returned (AI SDK), never another error.
          if (!(out instanceof Refused) && !(typeof out === 'object' && out !== null && (out as { refused?: unknown }).refused === true)) breaches.push(`${name}: neither ran nor refused: ${inspect(out)}`)
          continue
        }
        const why = breach(ran[ran.length - 1])
        if (why !== undefined) breaches.push(`${name}: ${why}`)
      }
    }
    expect(breaches).toEqual([])
    // Not vacuous: both outcomes occur.
    expect(refused).toBeGreaterThan(0)
    expect(ran.length).toBeGreaterThan(0)
  })
})
