// guardAgentTools() with OpenAI Agents JS (@openai/agents 0.20 on Node 20): a real Agent run by
// the SDK's Runner, with a scripted model (the SDK's `Model` interface, no network) that calls
// a permitted and a refused tool. The refused tool's execute never runs; the model reads the
// refusal in its next request.

import { Agent, run, setTracingDisabled, tool, ToolCallError, Usage, type Model, type ModelRequest, type ModelResponse } from '@openai/agents'
import { beforeAll, describe, expect, test } from 'vitest'
import { z } from 'zod'

import { Gate, InvalidArgumentError, Refused, guardAgentTools, runAs, type Caller } from '../index'

const gate = Gate.fromObject({
  policies: [
    { name: 'lookups', effect: 'permit', conditions: [{ identity_role: 'support' }, { action: 'lookup_order' }] },
    { name: 'small_refunds', effect: 'permit', conditions: [{ identity_role: 'support' }, { action: 'refund' }, { param_max: { field: 'amount', max: 100 } }] },
  ],
})
const support: Caller = { principalId: 'agent-9', principalKind: 'agent', roles: ['support'] }

/** Turn 1: call both tools. Turn 2: answer. Records every request it was sent. */
class ScriptedModel implements Model {
  readonly requests: ModelRequest[] = []
  async getResponse(request: ModelRequest): Promise<ModelResponse> {
    this.requests.push(request)
    if (this.requests.length === 1) {
      return {
        usage: new Usage(),
        output: [
          { type: 'function_call', callId: 'c1', name: 'lookup_order', arguments: JSON.stringify({ orderId: 'ORD-1' }), status: 'completed' },
          { type: 'function_call', callId: 'c2', name: 'refund', arguments: JSON.stringify({ orderId: 'ORD-1', amount: 900 }), status: 'completed' },
        ],
      }
    }
    return { usage: new Usage(), output: [{ type: 'message', role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: 'done' }] }] }
  }
  // eslint-disable-next-line require-yield
  async *getStreamedResponse(): AsyncIterable<never> {
    throw new Error('not used')
  }
}

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
    const model = new ScriptedModel()
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
    await run(new Agent({ name: 'a', model: new ScriptedModel(), tools: byContext }), 'x', { context: { caller: support } })
    expect(ran).toEqual(['lookup:ORD-1'])

    const ambient = guardAgentTools(gate, agentTools(ran))
    await runAs(support, () => run(new Agent({ name: 'b', model: new ScriptedModel(), tools: ambient }), 'x'))
    expect(ran).toEqual(['lookup:ORD-1', 'lookup:ORD-1'])

    const model = new ScriptedModel()
    await run(new Agent({ name: 'c', model, tools: ambient }), 'x')
    expect(ran).toHaveLength(2)
    expect(outputsSeen(model).c1).toContain('INVALID_CONTEXT')
  })

  test("onRefuse: 'throw' ends the run with Refused; the refused tool never runs", async () => {
    const ran: string[] = []
    const tools = guardAgentTools(gate, agentTools(ran), { caller: support, onRefuse: 'throw' })
    const err = await run(new Agent({ name: 'd', model: new ScriptedModel(), tools }), 'x').catch((e: unknown) => e)
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
