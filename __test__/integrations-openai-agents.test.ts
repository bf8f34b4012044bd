// guardAgentTools() with OpenAI Agents JS (@openai/agents 0.20 on Node 20): a real Agent run by
// the SDK's Runner, with a scripted model (the SDK's `Model` interface, no network) that calls
// a permitted and a refused tool. The refused tool's execute never runs; the model reads the
// refusal in its next request. The gate judges the input as the tool's parser produced it
// (coercions, transforms), the value execute runs on, in the ES module and CommonJS builds.

import { join } from 'node:path'

import { Agent, run, setTracingDisabled, tool, ToolCallError } from '@openai/agents'
import { beforeAll, describe, expect, test } from 'vitest'
import { z } from 'zod'

import { Gate, InvalidArgumentError, KavachKeyPair, PqTokenSigner, Refused, guardAgentTools, runAs, type Caller } from '../index'
import { runTsx } from './fixtures/run-tsx'
import { type FunctionCall, ScriptedModel } from './fixtures/scripted-agents-model'

const gate = Gate.fromObject({
  policies: [
    { name: 'lookups', effect: 'permit', conditions: [{ identity_role: 'support' }, { action: 'lookup_order' }] },
    { name: 'small_refunds', effect: 'permit', conditions: [{ identity_role: 'support' }, { action: 'refund' }, { param_max: { field: 'amount', max: 100 } }] },
  ],
})
const support: Caller = { principalId: 'agent-9', principalKind: 'agent', roles: ['support'] }

/** Turn 1 of the scripted model: call both tools. */
const DEFAULT_CALLS: FunctionCall[] = [
  { callId: 'c1', name: 'lookup_order', arguments: JSON.stringify({ orderId: 'ORD-1' }) },
  { callId: 'c2', name: 'refund', arguments: JSON.stringify({ orderId: 'ORD-1', amount: 900 }) },
]

function agentTools(ran: string[]) {
  return [
    tool({
      name: 'lookup_order',
      description: 'Look up an order',
      parameters: z.object({ orderId: z.string() }),
      execute: async ({ orderId }) => {
        ran.push(`lookup:${orderId}`)
        return `order ${orderId}: shipped`
      },
    }),
    tool({
      name: 'refund',
      description: 'Refund an order',
      parameters: z.object({ orderId: z.string(), amount: z.number() }),
      execute: async ({ orderId, amount }) => {
        ran.push(`refund:${orderId}:${amount}`)
        return `refunded ${amount}`
      },
    }),
  ]
}

/** The outputs of the tool calls the model was sent on its second turn, by call id. */
function outputsSeen(model: ScriptedModel): Record<string, string> {
  const out: Record<string, string> = {}
  const input = model.requests[1]!.input
  for (const item of Array.isArray(input) ? input : []) {
    if (item.type === 'function_call_result') out[item.callId] = JSON.stringify(item.output)
  }
  return out
}

describe('guardAgentTools with an OpenAI Agents run', () => {
  beforeAll(() => setTracingDisabled(true))

  test('the permitted tool runs; the refused one never runs and the model reads the refusal', async () => {
    const ran: string[] = []
    const model = new ScriptedModel(DEFAULT_CALLS)
    const agent = new Agent({ name: 'support', instructions: 'help', model, tools: guardAgentTools(gate, agentTools(ran), { caller: support }) })
    const result = await run(agent, 'refund ORD-1')
    expect(result.finalOutput).toBe('done')
    expect(ran).toEqual(['lookup:ORD-1'])
    const seen = outputsSeen(model)
    expect(seen.c1).toContain('order ORD-1: shipped')
    expect(seen.c2).toContain('refused')
    expect(seen.c2).toContain('NO_POLICY_MATCH')
  })

  test('the caller from the run context, or from runAs; none refuses', async () => {
    const ran: string[] = []
    const byContext = guardAgentTools(gate, agentTools(ran), { caller: (rc) => (rc.context as { caller?: Caller } | undefined)?.caller })
    await run(new Agent({ name: 'a', model: new ScriptedModel(DEFAULT_CALLS), tools: byContext }), 'x', { context: { caller: support } })
    expect(ran).toEqual(['lookup:ORD-1'])

    const ambient = guardAgentTools(gate, agentTools(ran))
    await runAs(support, () => run(new Agent({ name: 'b', model: new ScriptedModel(DEFAULT_CALLS), tools: ambient }), 'x'))
    expect(ran).toEqual(['lookup:ORD-1', 'lookup:ORD-1'])

    const model = new ScriptedModel(DEFAULT_CALLS)
    await run(new Agent({ name: 'c', model, tools: ambient }), 'x')
    expect(ran).toHaveLength(2)
    expect(outputsSeen(model).c1).toContain('INVALID_CONTEXT')
  })

  test("onRefuse: 'throw' ends the run with Refused; the refused tool never runs", async () => {
    const ran: string[] = []
    const tools = guardAgentTools(gate, agentTools(ran), { caller: support, onRefuse: 'throw' })
    const err = await run(new Agent({ name: 'd', model: new ScriptedModel(DEFAULT_CALLS), tools }), 'x').catch((e: unknown) => e)
    // The SDK wraps what a tool's invoke throws in a ToolCallError carrying the original.
    expect(err).toBeInstanceOf(ToolCallError)
    const refused = (err as ToolCallError).error
    expect(refused).toBeInstanceOf(Refused)
    expect((refused as Refused).code).toBe('NO_POLICY_MATCH')
    expect(ran.filter((r) => r.startsWith('refund'))).toEqual([])
  })

  test('a tool that does not run in this process is rejected, not passed ungated', () => {
    expect(() => guardAgentTools(gate, [{ type: 'hosted_tool', name: 'web_search' }])).toThrow(InvalidArgumentError)
  })
})

describe('guardAgentTools gates the input execute receives, not the JSON text', () => {
  beforeAll(() => setTracingDisabled(true))

  // Refunds of 1000 or more are refused outright; support may refund otherwise.
  const capped = Gate.fromObject({
    policies: [
      { name: 'no_big_refunds', effect: 'refuse', priority: 10, conditions: [{ action: 'refund' }, { param_min: { field: 'amount', min: 1000 } }] },
      { name: 'support_refunds', effect: 'permit', conditions: [{ identity_role: 'support' }, { action: 'refund' }] },
    ],
  })
  type Invocable = { invoke(rc: unknown, input: string, details?: unknown): Promise<unknown> }

  function coercingRefund(ran: unknown[]) {
    return tool({
      name: 'refund',
      description: 'Refund an amount',
      parameters: z.object({ amount: z.coerce.number() }),
      execute: async ({ amount }) => {
        ran.push(amount)
        return `refunded ${amount}`
      },
    })
  }

  test('a string the schema coerces to a number over the cap is refused; execute never runs', async () => {
    const ran: unknown[] = []
    const [refund] = guardAgentTools(capped, [coercingRefund(ran)], { caller: support }) as unknown as Invocable[]
    await expect(refund!.invoke({ context: {} }, '{"amount":5000}')).resolves.toMatchObject({ refused: true, code: 'POLICY_DENIED' })
    await expect(refund!.invoke({ context: {} }, '{"amount":"5000"}')).resolves.toMatchObject({ refused: true, code: 'POLICY_DENIED' })
    expect(ran).toEqual([])
    // Under the cap, execute runs with the coerced number the gate judged.
    await expect(refund!.invoke({ context: {} }, '{"amount":"50"}')).resolves.toBe('refunded 50')
    expect(ran).toEqual([50])
  })

  test('the same through a real Agent run: the model reads the refusal, execute never runs', async () => {
    const ran: unknown[] = []
    const model = new ScriptedModel([{ callId: 'c9', name: 'refund', arguments: '{"amount":"5000"}' }])
    const agent = new Agent({ name: 'support', instructions: 'help', model, tools: guardAgentTools(capped, [coercingRefund(ran)], { caller: support }) })
    expect((await run(agent, 'refund 5000')).finalOutput).toBe('done')
    expect(ran).toEqual([])
    expect(outputsSeen(model).c9).toContain('POLICY_DENIED')
  })

  test('the input is parsed once per call: execute runs on the very parse the gate judged', async () => {
    const ran: unknown[] = []
    let parses = 0
    const counted = tool({
      name: 'refund',
      description: 'Refund an amount',
      parameters: z.object({
        amount: z.coerce.number().refine(() => {
          parses++
          return true
        }),
      }),
      execute: async ({ amount }) => {
        ran.push(amount)
        return `refunded ${amount}`
      },
    })
    const [refund] = guardAgentTools(capped, [counted], { caller: support }) as unknown as Invocable[]
    await expect(refund!.invoke({ context: {} }, '{"amount":"2000"}')).resolves.toMatchObject({ refused: true, code: 'POLICY_DENIED' })
    await expect(refund!.invoke({ context: {} }, '{"amount":"300"}')).resolves.toBe('refunded 300')
    expect(ran).toEqual([300])
    // Two calls, two parses: the SDK took the attached parse instead of parsing the text again.
    expect(parses).toBe(2)
  })

  test('an input the parser rejects is refused with INVALID_CONTEXT, or thrown with onRefuse: throw', async () => {
    const ran: unknown[] = []
    const [refund] = guardAgentTools(capped, [coercingRefund(ran)], { caller: support }) as unknown as Invocable[]
    const notJson = (await refund!.invoke({ context: {} }, '{amount:50')) as { refused: boolean; code: string; reason: string }
    expect(notJson).toMatchObject({ refused: true, code: 'INVALID_CONTEXT' })
    expect(notJson.reason).toContain("the input of 'refund' does not match its parameters")
    await expect(refund!.invoke({ context: {} }, '{"amount":"lots"}')).resolves.toMatchObject({ refused: true, code: 'INVALID_CONTEXT' })
    const [throwing] = guardAgentTools(capped, [coercingRefund(ran)], { caller: support, onRefuse: 'throw' }) as unknown as Invocable[]
    await expect(throwing!.invoke({ context: {} }, '{}')).rejects.toMatchObject({ code: 'INVALID_CONTEXT' })
    expect(ran).toEqual([])
  })

  test('a function tool not made by tool() cannot be gated on what it runs: its call rejects, its invoke never runs', async () => {
    let invoked = 0
    const handMade = { type: 'function', name: 'refund', invoke: async () => ++invoked }
    const [gated] = guardAgentTools(capped, [handMade], { caller: support }) as unknown as Invocable[]
    await expect(gated!.invoke({ context: {} }, '{"amount":1}')).rejects.toThrow(InvalidArgumentError)
    await expect(gated!.invoke({ context: {} }, '{"amount":1}')).rejects.toThrow(/cannot gate tool 'refund': it was not made by tool\(\)/)
    expect(invoked).toBe(0)
  })

  test('a tool made through the CommonJS build is gated on its parsed input too', async () => {
    const script = join(__dirname, 'fixtures/openai-agents-cjs.ts')
    const over = await runTsx(script, { args: ['{"amount":"5000"}'], killAfterMs: 60_000 })
    expect(over.stderr).toBe('')
    expect(JSON.parse(over.stdout)).toMatchObject({ out: { refused: true, code: 'POLICY_DENIED' }, ran: [], cjs: true })
    const under = await runTsx(script, { args: ['{"amount":"50"}'], killAfterMs: 60_000 })
    expect(JSON.parse(under.stdout)).toEqual({ out: 'refunded 50', ran: [50], cjs: true })
  }, 120_000)
})

describe('guardAgentTools: a permit that cannot be signed', () => {
  test('the model reads a generic IDENTITY_FAILED reason, returned or thrown; the error keeps the full verdict', async () => {
    const signer = PqTokenSigner.fromKeypairHybrid(KavachKeyPair.generateWithExpiry(0))
    const signed = Gate.fromObject({ policies: [{ name: 'all', effect: 'permit', conditions: [{ identity_role: 'support' }] }] }, { tokenSigner: signer })
    const ran: unknown[] = []
    const refund = tool({
      name: 'refund',
      description: 'Refund an amount',
      parameters: z.object({ amount: z.number() }),
      execute: async ({ amount }) => {
        ran.push(amount)
        return `refunded ${amount}`
      },
    })
    type Invocable = { invoke(rc: unknown, input: string, details?: unknown): Promise<unknown> }
    const generic = 'the gate could not sign or verify identity for this call; the tool did not run'
    const [asResult] = guardAgentTools(signed, [refund], { caller: support }) as unknown as Invocable[]
    await expect(asResult!.invoke({ context: {} }, '{"amount":1}')).resolves.toEqual({ refused: true, code: 'IDENTITY_FAILED', reason: generic })
    const [asThrow] = guardAgentTools(signed, [refund], { caller: support, onRefuse: 'throw' }) as unknown as Invocable[]
    const err = await asThrow!.invoke({ context: {} }, '{"amount":1}').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(Refused)
    expect((err as Refused).message).toBe(`[IDENTITY_FAILED] identity: ${generic}`)
    expect((err as Refused).verdict?.reason).toMatch(/expired/)
    expect(ran).toEqual([])
  })
})
