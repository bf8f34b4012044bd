// guardTools() with the Vercel AI SDK (ai 6): generateText driven by the SDK's own mock model
// (ai/test) calls a permitted and a refused tool; the refused tool never runs and the model
// receives the refusal.

import { generateText, stepCountIs, tool } from 'ai'
import { MockLanguageModelV3 } from 'ai/test'
import { describe, expect, onTestFinished, test } from 'vitest'
import { z } from 'zod'

import { Gate, Invalidated, KavachKeyPair, PqTokenSigner, RedisRateLimitStore, Refused, guardTools, isToolRefusal, runAs, type Caller } from '../index'
import { REDIS_URL, cleanup, uniquePrefix } from './fixtures/redis-helpers'

const gate = Gate.fromObject({
  policies: [
    { name: 'lookup_orders', effect: 'permit', conditions: [{ identity_role: 'support' }, { action: 'lookupOrder' }] },
    { name: 'small_refunds', effect: 'permit', conditions: [{ identity_role: 'support' }, { action: 'refund' }, { param_max: { field: 'amount', max: 100 } }] },
  ],
})
const support: Caller = { principalId: 'agent-7', principalKind: 'agent', roles: ['support'] }

const usage = {
  inputTokens: { total: 1, noCache: 1, cacheRead: undefined, cacheWrite: undefined },
  outputTokens: { total: 1, text: 1, reasoning: undefined },
}

/** Step 1: the model calls both tools. Step 2: it answers with text. */
function scriptedModel(): MockLanguageModelV3 {
  return new MockLanguageModelV3({
    doGenerate: [
      {
        content: [
          { type: 'tool-call', toolCallId: 'call-1', toolName: 'lookupOrder', input: JSON.stringify({ orderId: 'ORD-9' }) },
          { type: 'tool-call', toolCallId: 'call-2', toolName: 'refund', input: JSON.stringify({ orderId: 'ORD-9', amount: 5000 }) },
        ],
        finishReason: { unified: 'tool-calls', raw: 'tool_calls' },
        usage,
        warnings: [],
      },
      { content: [{ type: 'text', text: 'done' }], finishReason: { unified: 'stop', raw: 'stop' }, usage, warnings: [] },
    ],
  })
}

function toolKit(ran: string[]) {
  return {
    lookupOrder: tool({
      description: 'Look up an order',
      inputSchema: z.object({ orderId: z.string() }),
      execute: async ({ orderId }) => {
        ran.push(`lookup:${orderId}`)
        return { orderId, status: 'shipped' }
      },
    }),
    refund: tool({
      description: 'Refund an order',
      inputSchema: z.object({ orderId: z.string(), amount: z.number() }),
      execute: async ({ orderId, amount }) => {
        ran.push(`refund:${orderId}:${amount}`)
        return { refunded: amount }
      },
    }),
  }
}

/** The tool results the model was sent in its second call, by tool name. */
function toolResultsSeen(model: MockLanguageModelV3): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const msg of model.doGenerateCalls[1]!.prompt) {
    if (msg.role !== 'tool') continue
    for (const part of msg.content) if (part.type === 'tool-result') out[part.toolName] = part.output
  }
  return out
}

describe('guardTools with generateText and the AI SDK mock model', () => {
  test('the permitted tool runs; the refused one never runs and the model reads the refusal', async () => {
    const ran: string[] = []
    const model = scriptedModel()
    const result = await generateText({ model, tools: guardTools(gate, toolKit(ran), { caller: support }), prompt: 'refund ORD-9', stopWhen: stepCountIs(3) })
    expect(result.text).toBe('done')
    expect(ran).toEqual(['lookup:ORD-9'])
    const seen = toolResultsSeen(model)
    expect(seen.lookupOrder).toEqual({ type: 'json', value: { orderId: 'ORD-9', status: 'shipped' } })
    const refusal = seen.refund as { type: string; value: unknown }
    expect(refusal.type).toBe('json')
    expect(isToolRefusal(refusal.value)).toBe(true)
    expect(refusal.value).toMatchObject({ refused: true, code: 'NO_POLICY_MATCH' })
    expect(typeof (refusal.value as { reason: unknown }).reason).toBe('string')
  })

  test('the caller can come from runAs; without any caller every tool is refused', async () => {
    const ran: string[] = []
    const tools = guardTools(gate, toolKit(ran))
    const model = scriptedModel()
    await runAs(support, () => generateText({ model, tools, prompt: 'x', stopWhen: stepCountIs(3) }))
    expect(ran).toEqual(['lookup:ORD-9'])

    const anon = scriptedModel()
    await generateText({ model: anon, tools, prompt: 'x', stopWhen: stepCountIs(3) })
    expect(ran).toEqual(['lookup:ORD-9'])
    const seen = toolResultsSeen(anon)
    expect((seen.lookupOrder as { value: unknown }).value).toMatchObject({ refused: true, code: 'INVALID_CONTEXT' })
  })

  test("onRefuse: 'throw' throws Refused from execute; the SDK hands the model a tool error", async () => {
    const ran: string[] = []
    const tools = guardTools(gate, toolKit(ran), { caller: support, onRefuse: 'throw' })
    await expect(tools.refund.execute!({ orderId: 'A', amount: 500 }, { toolCallId: 't', messages: [] })).rejects.toBeInstanceOf(Refused)
    const model = scriptedModel()
    await generateText({ model, tools, prompt: 'x', stopWhen: stepCountIs(3) })
    expect(ran).toEqual(['lookup:ORD-9'])
    const seen = toolResultsSeen(model) as Record<string, { type: string; value: unknown }>
    expect(seen.refund!.type).toBe('error-text')
    expect(String(seen.refund!.value)).toContain('NO_POLICY_MATCH')
  })

  test('a revoked session refuses with SESSION_INVALID; a tool without execute is left as it is; streaming tools stay streaming', async () => {
    const ran: string[] = []
    const local = Gate.fromObject({ policies: [{ name: 'all', effect: 'permit', conditions: [{ action: 'stream' }] }] })
    local.evaluate({ principalId: 'a', principalKind: 'agent', actionName: 'stream', sessionId: 's1', ip: '1.1.1.1' })
    const stream = {
      execute: async function* (input: { n: number }) {
        ran.push(`stream:${input.n}`)
        yield 'partial'
        yield 'final'
      },
    }
    const tools = guardTools(local, { stream, clientSide: { description: 'runs in the browser' } }, { caller: { principalId: 'a', principalKind: 'agent', sessionId: 's1', ip: '1.1.1.1' }, onRefuse: 'throw' })
    expect(tools.clientSide).toEqual({ description: 'runs in the browser' })
    const out: unknown[] = []
    for await (const v of tools.stream.execute({ n: 1 }) as AsyncIterable<unknown>) out.push(v)
    expect(out).toEqual(['partial', 'final'])
    // Same session from another IP: drift invalidates it, and the generator never starts.
    const moved = guardTools(local, { stream }, { caller: { principalId: 'a', principalKind: 'agent', sessionId: 's1', ip: '2.2.2.2' }, onRefuse: 'throw' })
    const it = moved.stream.execute({ n: 2 }) as AsyncIterator<unknown>
    await expect(it.next()).rejects.toBeInstanceOf(Invalidated)
    expect(ran).toEqual(['stream:1'])
  })
})

describe('guardTools: what the model reads, and tools that return an async iterable', () => {
  test('a permit that cannot be signed: the model reads a generic IDENTITY_FAILED reason, thrown or returned', async () => {
    const signer = PqTokenSigner.fromKeypairHybrid(KavachKeyPair.generateWithExpiry(0))
    const signed = Gate.fromObject({ policies: [{ name: 'all', effect: 'permit', conditions: [{ identity_role: 'support' }] }] }, { tokenSigner: signer })
    const ran: string[] = []
    const generic = 'the gate could not sign or verify identity for this call; the tool did not run'
    const model = scriptedModel()
    await generateText({ model, tools: guardTools(signed, toolKit(ran), { caller: support }), prompt: 'x', stopWhen: stepCountIs(3) })
    expect(ran).toEqual([])
    expect((toolResultsSeen(model).refund as { value: unknown }).value).toEqual({ refused: true, code: 'IDENTITY_FAILED', reason: generic })

    const throwing = scriptedModel()
    await generateText({ model: throwing, tools: guardTools(signed, toolKit(ran), { caller: support, onRefuse: 'throw' }), prompt: 'x', stopWhen: stepCountIs(3) })
    const seen = toolResultsSeen(throwing).refund as { type: string; value: unknown }
    expect(seen.type).toBe('error-text')
    expect(String(seen.value)).toContain(generic)
    expect(String(seen.value)).not.toMatch(/expired|kavach-key/)
    // The full verdict stays on the error, for the application.
    const err = await (guardTools(signed, toolKit(ran), { caller: support, onRefuse: 'throw' }).refund.execute!({ orderId: 'A', amount: 1 }, { toolCallId: 't', messages: [] }) as Promise<unknown>).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(Refused)
    expect((err as Refused).verdict?.reason).toMatch(/expired/)
    expect(ran).toEqual([])
  })

  /** A tool whose execute is a plain function returning an async generator's iterator. */
  function iterableTool(ran: string[]) {
    async function* progress(amount: number): AsyncGenerator<{ status: string } | { refunded: number }> {
      ran.push(`refund:${amount}`)
      yield { status: 'working' }
      yield { refunded: amount }
    }
    return tool({ description: 'Refund', inputSchema: z.object({ amount: z.number() }), execute: ({ amount }) => progress(amount) })
  }

  function refundModel(amount: number): MockLanguageModelV3 {
    return new MockLanguageModelV3({
      doGenerate: [
        { content: [{ type: 'tool-call', toolCallId: 'c1', toolName: 'refund', input: JSON.stringify({ amount }) }], finishReason: { unified: 'tool-calls', raw: undefined }, usage, warnings: [] },
        { content: [{ type: 'text', text: 'done' }], finishReason: { unified: 'stop', raw: undefined }, usage, warnings: [] },
      ],
    })
  }

  test('execute returning an async iterable stays one: the SDK streams it after the check; a refused call never starts it', async () => {
    const ran: string[] = []
    const tools = guardTools(gate, { refund: iterableTool(ran) }, { caller: support })
    const returned = tools.refund.execute!({ amount: 50 }, { toolCallId: 't', messages: [] })
    expect(typeof (returned as AsyncIterable<unknown>)[Symbol.asyncIterator]).toBe('function')
    expect(ran).toEqual([])
    const items: unknown[] = []
    for await (const item of returned as AsyncIterable<unknown>) items.push(item)
    expect(items).toEqual([{ status: 'working' }, { refunded: 50 }])

    const ok = await generateText({ model: refundModel(50), tools, prompt: 'x', stopWhen: stepCountIs(3) })
    expect(ok.steps[0]!.toolResults[0]!.output).toEqual({ refunded: 50 })
    const no = await generateText({ model: refundModel(5000), tools, prompt: 'x', stopWhen: stepCountIs(3) })
    expect(no.steps[0]!.toolResults[0]!.output).toMatchObject({ refused: true, code: 'NO_POLICY_MATCH' })
    expect(ran).toEqual(['refund:50', 'refund:50'])
  })

  test('an async tool resolving to an async-iterable object (a paginated page): the object is the output, as without the gate', async () => {
    /** A page of results that can also be iterated, like an SDK's cursor page. */
    class Page {
      data = [{ id: 'f1' }, { id: 'f2' }]
      async *[Symbol.asyncIterator](): AsyncGenerator<{ id: string }> {
        for (const d of this.data) yield d
      }
    }
    const listFiles = tool({ description: 'List files', inputSchema: z.object({ amount: z.number() }), execute: async () => new Page() })
    const plain = await generateText({ model: refundModel(50), tools: { refund: listFiles }, prompt: 'x', stopWhen: stepCountIs(3) })
    const gated = await generateText({ model: refundModel(50), tools: guardTools(gate, { refund: listFiles }, { caller: support }), prompt: 'x', stopWhen: stepCountIs(3) })
    const output = gated.steps[0]!.toolResults[0]!.output
    expect(plain.steps[0]!.toolResults[0]!.output).toBeInstanceOf(Page)
    expect(output).toBeInstanceOf(Page)
    expect(output).toEqual(plain.steps[0]!.toolResults[0]!.output)
    expect((output as Page).data).toEqual([{ id: 'f1' }, { id: 'f2' }])
  })

  test('the same tool under a gate on Redis stores (no synchronous evaluate): its last item is the output', async () => {
    const ran: string[] = []
    const prefix = uniquePrefix('ai-sdk-iterable')
    const rateStore = await RedisRateLimitStore.connect(REDIS_URL, { prefix })
    const networked = Gate.fromObject(
      { policies: [{ name: 'small', effect: 'permit', conditions: [{ identity_role: 'support' }, { param_max: { field: 'amount', max: 100 } }, { rate_limit: { max: 10, window: '1m' } }] }] },
      { rateStore },
    )
    onTestFinished(async () => {
      await networked.close()
      rateStore.close()
      await cleanup(prefix)
    })
    expect(networked.supportsSync).toBe(false)
    const tools = guardTools(networked, { refund: iterableTool(ran) }, { caller: support })
    const ok = await generateText({ model: refundModel(50), tools, prompt: 'x', stopWhen: stepCountIs(3) })
    expect(ok.steps[0]!.toolResults[0]!.output).toEqual({ refunded: 50 })
    const no = await generateText({ model: refundModel(5000), tools, prompt: 'x', stopWhen: stepCountIs(3) })
    expect(no.steps[0]!.toolResults[0]!.output).toMatchObject({ refused: true, code: 'NO_POLICY_MATCH' })
    expect(ran).toEqual(['refund:50'])
  })
})

describe("guardTools: a refusal reaches the model as the refusal, not through the tool's toModelOutput", () => {
  function modelCalling(input: object): MockLanguageModelV3 {
    return new MockLanguageModelV3({
      doGenerate: [
        { content: [{ type: 'tool-call', toolCallId: 'c1', toolName: 'refund', input: JSON.stringify(input) }], finishReason: { unified: 'tool-calls', raw: undefined }, usage, warnings: [] },
        { content: [{ type: 'text', text: 'done' }], finishReason: { unified: 'stop', raw: undefined }, usage, warnings: [] },
      ],
    })
  }
  const refusalRead = {
    type: 'json',
    value: { refused: true, code: 'NO_POLICY_MATCH', reason: "no policy permits 'refund' for principal 'agent-7' (default deny)" },
  }

  test("the app's formatter words a permitted output; a refused call's model output is the refusal as JSON", async () => {
    const ran: string[] = []
    const refund = tool({
      description: 'Refund an order',
      inputSchema: z.object({ orderId: z.string(), amount: z.number() }),
      execute: async ({ orderId, amount }) => {
        ran.push(`refund:${orderId}:${amount}`)
        return { orderId, refunded: amount as number | undefined }
      },
      toModelOutput: ({ input, output }) => ({ type: 'text', value: `Refund of ${input.amount} on ${input.orderId} submitted (${JSON.stringify(output.refunded ?? 'pending')}).` }),
    })
    const tools = guardTools(gate, { refund }, { caller: support })
    const permitted = modelCalling({ orderId: 'A-1', amount: 50 })
    await generateText({ model: permitted, tools, prompt: 'refund A-1 50', stopWhen: stepCountIs(3) })
    expect(toolResultsSeen(permitted).refund).toEqual({ type: 'text', value: 'Refund of 50 on A-1 submitted (50).' })

    const refused = modelCalling({ orderId: 'A-1', amount: 500 })
    await generateText({ model: refused, tools, prompt: 'refund A-1 500', stopWhen: stepCountIs(3) })
    expect(toolResultsSeen(refused).refund).toEqual(refusalRead)
    expect(ran).toEqual(['refund:A-1:50'])
  })

  test('a formatter that reads fields a refusal lacks is not called on one: generateText goes on', async () => {
    const refund = tool({
      description: 'Refund an order',
      inputSchema: z.object({ orderId: z.string(), amount: z.number() }),
      execute: async ({ amount }) => ({ lines: [`refunded ${amount}`] }),
      toModelOutput: ({ output }) => ({ type: 'text', value: output.lines.join('\n') }),
    })
    const model = modelCalling({ orderId: 'A-1', amount: 500 })
    const result = await generateText({ model, tools: guardTools(gate, { refund }, { caller: support }), prompt: 'refund A-1 500', stopWhen: stepCountIs(3) })
    expect(result.text).toBe('done')
    expect(toolResultsSeen(model).refund).toEqual(refusalRead)
  })

  test("a permitted tool's own output with refused: true goes through the app's formatter; the gate's refusal still bypasses it", async () => {
    const ran: number[] = []
    const refund = tool({
      description: 'Charge a card',
      inputSchema: z.object({ orderId: z.string(), amount: z.number() }),
      // What the payment provider answered: the card was declined.
      execute: async ({ amount }) => {
        ran.push(amount)
        return { refused: true, amount, card: '4111 1111 1111 1111', providerDebug: 'acct=acme-prod key=sk_live_123' }
      },
      // The app never shows the model the card number or the provider's internals.
      toModelOutput: ({ output }) => ({ type: 'text', value: `The card was declined for ${output.amount}.` }),
    })
    const tools = guardTools(gate, { refund }, { caller: support })
    const declined = modelCalling({ orderId: 'A-1', amount: 20 })
    await generateText({ model: declined, tools, prompt: 'charge 20', stopWhen: stepCountIs(3) })
    expect(toolResultsSeen(declined).refund).toEqual({ type: 'text', value: 'The card was declined for 20.' })

    const refused = modelCalling({ orderId: 'A-1', amount: 500 })
    await generateText({ model: refused, tools, prompt: 'charge 500', stopWhen: stepCountIs(3) })
    expect(toolResultsSeen(refused).refund).toEqual(refusalRead)
    expect(ran).toEqual([20])
  })
})

describe('guardTools: a call aborted while the gate decides never starts the tool', () => {
  const policies = { policies: [{ name: 'refunds', effect: 'permit' as const, conditions: [{ action: 'refund' }] }] }

  /** A gate whose verdict hook aborts `controller`: the signal fires as the gate answers. */
  function abortingGate(controller: AbortController, reason: Error, options: { rateStore?: RedisRateLimitStore } = {}): Gate {
    return Gate.fromObject(policies, { ...options, onVerdict: () => controller.abort(reason) })
  }
  const callOptions = (signal: AbortSignal) => ({ toolCallId: 't', messages: [], abortSignal: signal })
  /** A tool's `execute` as the SDK calls it. */
  type Execute = (input: { amount: number }, options: ReturnType<typeof callOptions>) => unknown

  test('generateText with an abortSignal: the call ends as a tool error with the reason, and the tool never runs', async () => {
    const controller = new AbortController()
    const reason = new Error('user cancelled')
    const ran: number[] = []
    const refund = tool({
      inputSchema: z.object({ amount: z.number() }),
      execute: async ({ amount }) => {
        ran.push(amount)
        return 'refunded'
      },
    })
    const model = new MockLanguageModelV3({
      doGenerate: { content: [{ type: 'tool-call', toolCallId: 'c1', toolName: 'refund', input: '{"amount":70}' }], finishReason: { unified: 'tool-calls', raw: undefined }, usage, warnings: [] },
    })
    const tools = guardTools(abortingGate(controller, reason), { refund }, { caller: support })
    const result = await generateText({ model, tools, prompt: 'x', abortSignal: controller.signal, stopWhen: stepCountIs(1) })
    expect(result.content).toContainEqual(expect.objectContaining({ type: 'tool-error', toolName: 'refund', error: reason }))
    await new Promise((r) => setImmediate(r))
    expect(ran).toEqual([])
  })

  test('each kind of execute (plain function, async function on a Redis gate, async generator) rejects with the reason before the tool starts', async () => {
    const ran: string[] = []
    const plain: Execute = () => {
      ran.push('plain')
      return 'refunded'
    }
    const inline = new AbortController()
    const reason = new Error('user cancelled')
    const plainTools = guardTools(abortingGate(inline, reason), { refund: { execute: plain } }, { caller: support })
    await expect(plainTools.refund.execute({ amount: 1 }, callOptions(inline.signal))).rejects.toBe(reason)

    const prefix = uniquePrefix('ai-sdk-abort')
    const rateStore = await RedisRateLimitStore.connect(REDIS_URL, { prefix })
    const networked = new AbortController()
    const redisGate = abortingGate(networked, reason, { rateStore })
    onTestFinished(async () => {
      await redisGate.close()
      rateStore.close()
      await cleanup(prefix)
    })
    const asyncExecute: Execute = async () => void ran.push('async')
    const asyncTools = guardTools(redisGate, { refund: { execute: asyncExecute } }, { caller: support })
    await expect(asyncTools.refund.execute({ amount: 1 }, callOptions(networked.signal))).rejects.toBe(reason)

    const streaming = new AbortController()
    const generator: Execute = async function* () {
      ran.push('generator')
      yield 'refunded'
    }
    const generatorTools = guardTools(abortingGate(streaming, reason), { refund: { execute: generator } }, { caller: support })
    const items = generatorTools.refund.execute({ amount: 1 }, callOptions(streaming.signal)) as AsyncIterator<unknown>
    await expect(items.next()).rejects.toBe(reason)
    expect(ran).toEqual([])
  })
})
