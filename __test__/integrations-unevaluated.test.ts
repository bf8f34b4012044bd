// Verdicts the integrations reach without evaluating (src/integrations/unevaluated.ts): an
// `identify` that throws, a request target that cannot be judged, no caller for a tool, a tool
// input that does not parse, a session store that fails or says revoked. Each is recorded by the
// gate as its own: an entry in its audit chain (an unidentified caller named `(unidentified)`),
// a call of its `onVerdict` with the same verdict, a count in its telemetry, and the caller
// still gets the refusal. Real express and fastify servers, the real AI SDK tool record, a real
// signed audit chain, the OpenTelemetry SDK.

import type { AddressInfo } from 'node:net'
import type { Server } from 'node:http'

import { AggregationTemporality, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics'
import { tool } from 'ai'
import express from 'express'
import Fastify from 'fastify'
import { afterAll, describe, expect, test } from 'vitest'
import { z } from 'zod'

import {
  Gate,
  KavachKeyPair,
  McpKavachMiddleware,
  SignedAuditChain,
  createExpressMiddleware,
  createFastifyHook,
  guardTools,
  isToolRefusal,
  type EvaluateInput,
  type GateOptions,
  type Verdict,
} from '../index'

const POLICY = { policies: [{ name: 'refunds', effect: 'permit' as const, conditions: [{ action: 'refunds.create' }] }] }

interface AuditData {
  evaluation_id: string
  principal_id: string
  action_name: string
  resource: string | null
  verdict: string
  verdict_detail: string
  decided_by: string | null
  session_id: string | null
  ip: string | null
}

/** A gate with a real audit chain, and everything its `onVerdict` heard. */
function observedGate(options: GateOptions = {}) {
  const chain = new SignedAuditChain(KavachKeyPair.generate())
  const heard: { verdict: Verdict; ctx: EvaluateInput }[] = []
  const gate = Gate.fromObject(POLICY, { ...options, audit: chain, onVerdict: (verdict, ctx) => void heard.push({ verdict, ctx }) })
  const entries = (): AuditData[] =>
    String(chain.exportJsonl())
      .split('\n')
      .filter((l) => l.length > 0)
      .map((l) => JSON.parse(Buffer.from((JSON.parse(l) as { signed_payload: { data: number[] } }).signed_payload.data).toString('utf8')) as AuditData)
  return { gate, chain, heard, entries }
}

/** The one verdict recorded so far: audited and heard once, with the same evaluation id. */
function theOneRecorded(o: ReturnType<typeof observedGate>): { entry: AuditData; verdict: Verdict; ctx: EvaluateInput } {
  const entries = o.entries()
  expect(entries).toHaveLength(1)
  expect(o.heard).toHaveLength(1)
  const { verdict, ctx } = o.heard[0]!
  expect(entries[0]!.evaluation_id).toBe(verdict.evaluationId)
  return { entry: entries[0]!, verdict, ctx }
}

const servers: Server[] = []
afterAll(async () => {
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))))
})

async function listen(app: express.Express): Promise<string> {
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s))
  })
  servers.push(server)
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

describe('HTTP', () => {
  test('express: identify() throws -> 403 to the client; the gate audits and reports an IDENTITY_FAILED refusal of an unidentified caller', async () => {
    const o = observedGate()
    const app = express()
    app.use(
      createExpressMiddleware(o.gate, {
        identify: () => {
          throw new Error('token service down')
        },
      }),
    )
    app.post('/refunds', (_req, res) => void res.json({ ok: true }))
    const res = await fetch(`${await listen(app)}/refunds`, { method: 'POST' })
    expect(res.status).toBe(403)
    // The middleware's own reasons are fixed texts; what identify() threw stays server-side.
    expect(await res.json()).toEqual({ error: 'forbidden', code: 'IDENTITY_FAILED', reason: 'identify() threw' })
    const { entry, verdict, ctx } = theOneRecorded(o)
    expect(verdict).toMatchObject({ kind: 'refuse', code: 'IDENTITY_FAILED', evaluator: 'http', reason: 'identify() threw' })
    expect(entry).toMatchObject({
      principal_id: '(unidentified)',
      action_name: 'refunds.create',
      resource: '/refunds',
      verdict: 'refuse',
      verdict_detail: '[IDENTITY_FAILED] identify() threw',
      decided_by: 'http',
    })
    expect(entry.ip).toMatch(/127\.0\.0\.1/)
    expect(ctx).toMatchObject({ principalId: '(unidentified)', principalKind: 'external', actionName: 'refunds.create', resource: '/refunds' })
  })

  test("fastify: a target it cannot judge (an encoded backslash) -> 403; recorded as '(unroutable request)'", async () => {
    const o = observedGate()
    const app = Fastify()
    app.addHook('preHandler', createFastifyHook(o.gate))
    app.post('/*', async () => ({ ok: true }))
    const res = await app.inject({ method: 'POST', url: '/refunds%5Cadmin' })
    await app.close()
    expect(res.statusCode).toBe(403)
    expect(res.json()).toMatchObject({ code: 'INVALID_CONTEXT' })
    const { entry, verdict } = theOneRecorded(o)
    expect(verdict).toMatchObject({ code: 'INVALID_CONTEXT', evaluator: 'http' })
    expect(entry).toMatchObject({ principal_id: '(unidentified)', action_name: '(unroutable request)', verdict: 'refuse' })
    expect(entry.verdict_detail).toBe("[INVALID_CONTEXT] the request path has an encoded '/' or '\\' in a segment")
  })

  test('a permitted request is recorded once, by the evaluation itself', async () => {
    const o = observedGate()
    const app = express()
    app.use(createExpressMiddleware(o.gate))
    app.post('/refunds', (_req, res) => void res.json({ ok: true }))
    expect((await fetch(`${await listen(app)}/refunds`, { method: 'POST' })).status).toBe(200)
    const { entry, verdict } = theOneRecorded(o)
    expect(verdict.isPermit).toBe(true)
    expect(entry).toMatchObject({ principal_id: 'anonymous', verdict: 'permit' })
  })
})

describe('MCP', () => {
  const bot = { callerId: 'bot-1', callerKind: 'agent' as const, sessionId: 's-9' }

  test("the middleware's session store says revoked: an Invalidate recorded with the caller and session", async () => {
    const o = observedGate()
    const mw = new McpKavachMiddleware(o.gate, { sessionStore: { isInvalidated: () => true, invalidate: () => undefined } })
    const v = await mw.evaluateToolCall('refunds.create', { amount: 5 }, bot)
    expect(v).toMatchObject({ kind: 'invalidate', code: 'SESSION_INVALID', evaluator: 'session_store' })
    const { entry, ctx } = theOneRecorded(o)
    expect(entry).toMatchObject({ principal_id: 'bot-1', action_name: 'refunds.create', verdict: 'invalidate', session_id: 's-9', decided_by: 'session_store' })
    expect(ctx).toMatchObject({ principalId: 'bot-1', principalKind: 'agent', sessionId: 's-9' })
  })

  test('the session store fails: STORE_UNAVAILABLE recorded, and an observe-only gate does not turn it into a Permit', async () => {
    const o = observedGate({ observeOnly: true })
    const failing = {
      isInvalidated: (): boolean => {
        throw new Error('sessions db down')
      },
      invalidate: () => undefined,
    }
    const v = await new McpKavachMiddleware(o.gate, { sessionStore: failing }).evaluateToolCall('refunds.create', {}, bot)
    expect(v).toMatchObject({ kind: 'refuse', code: 'STORE_UNAVAILABLE', evaluator: 'session_store' })
    expect(v.reason).toContain('sessions db down')
    const { entry } = theOneRecorded(o)
    expect(entry).toMatchObject({ principal_id: 'bot-1', verdict: 'refuse', decided_by: 'session_store' })
  })
})

describe('agent tool kits', () => {
  test('AI SDK: no caller -> the tool does not run, the model reads the refusal, the gate records it', async () => {
    const o = observedGate()
    const ran: string[] = []
    const tools = guardTools(o.gate, {
      refund: tool({
        description: 'Refund',
        inputSchema: z.object({ amount: z.number() }),
        execute: async ({ amount }) => {
          ran.push(`refund:${amount}`)
          return { ok: true }
        },
      }),
    })
    const out: unknown = await tools.refund.execute!({ amount: 5 }, { toolCallId: 'c1', messages: [] })
    expect(ran).toEqual([])
    expect(isToolRefusal(out)).toBe(true)
    const { entry, verdict } = theOneRecorded(o)
    expect(out).toMatchObject({ code: 'INVALID_CONTEXT', reason: verdict.reason })
    expect(entry).toMatchObject({ principal_id: '(unidentified)', action_name: 'refund', decided_by: 'guarded' })
  })

  test('a fact the native side cannot take still refuses, with a warning that it was not recorded', async () => {
    const o = observedGate()
    const warnings: string[] = []
    const onWarning = (w: Error & { code?: string }) => void (w.code === 'KAVACH_UNEVALUATED_NOT_RECORDED' && warnings.push(w.message))
    process.on('warning', onWarning)
    try {
      // A caller whose principal id is not a string (a JS caller ignoring the types) and a store that says revoked.
      const mw = new McpKavachMiddleware(o.gate, { sessionStore: { isInvalidated: () => true, invalidate: () => undefined } })
      const v = await mw.evaluateToolCall('refunds.create', {}, { callerId: 'bot-2', sessionId: 's-1', ip: 42 as unknown as string })
      expect(v).toMatchObject({ kind: 'invalidate', code: 'SESSION_INVALID' })
      await new Promise((r) => setImmediate(r))
    } finally {
      process.off('warning', onWarning)
    }
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toMatch(/a SESSION_INVALID verdict for 'refunds\.create' could not be recorded \(the verdict stands\)/)
    expect(o.entries()).toHaveLength(0)
    // Still reported to onVerdict.
    expect(o.heard).toHaveLength(1)
  })
})

describe('telemetry', () => {
  class CollectingReader extends MetricReader {
    protected onForceFlush(): Promise<void> {
      return Promise.resolve()
    }
    protected onShutdown(): Promise<void> {
      return Promise.resolve()
    }
  }

  test('an unevaluated refusal is counted in kavach.verdicts with its code and evaluator', async () => {
    const reader = new CollectingReader({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE })
    const gate = Gate.fromObject(POLICY, { telemetry: { meterProvider: new MeterProvider({ readers: [reader] }) } })
    const tools = guardTools(gate, { refund: tool({ description: 'Refund', inputSchema: z.object({}), execute: async () => ({ ok: true }) }) })
    await tools.refund.execute!({}, { toolCallId: 'c1', messages: [] })
    const { resourceMetrics } = await reader.collect()
    const counter = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics).find((m) => m.descriptor.name === 'kavach.verdicts')
    expect(counter?.dataPoints.map((p) => ({ attributes: p.attributes, value: p.value }))).toEqual([
      { attributes: { 'kavach.verdict.kind': 'refuse', 'kavach.verdict.code': 'INVALID_CONTEXT', 'kavach.verdict.evaluator': 'guarded' }, value: 1 },
    ])
  })
})
