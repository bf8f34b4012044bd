// guardAgentTools() with a real OpenAI Agents run (@openai/agents 0.20, scripted Model, no
// network): what the SDK does around a gated call stays as without the gate. Its needsApproval
// sees the input as the tool's parser makes it; a tool in a namespace is judged under its
// qualified name (`billing.refund`), whichever of toolNamespace and guardAgentTools comes first;
// and a call whose abort signal fired while the gate decided (a timeout, a cancelled run) never
// starts the tool.

import { execFileSync } from 'node:child_process'

import { Agent, run, setTracingDisabled, tool, toolNamespace } from '@openai/agents'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { z } from 'zod'

import { Gate, InvalidArgumentError, RedisRateLimitStore, guardAgentTools, type Caller, type Verdict } from '../index'
import { RedisProcess, uniquePrefix } from './fixtures/redis-helpers'
import { type FunctionCall, ScriptedModel } from './fixtures/scripted-agents-model'

const support: Caller = { principalId: 'agent-9', principalKind: 'agent', roles: ['support'] }

/** The outputs of the tool calls in the model's last request, by call id. */
function outputsSeen(model: ScriptedModel): Record<string, string> {
  const out: Record<string, string> = {}
  const input = model.requests[model.requests.length - 1]!.input
  for (const item of Array.isArray(input) ? input : []) {
    if (item.type === 'function_call_result') out[item.callId] = JSON.stringify(item.output)
  }
  return out
}

/** Lets every pending microtask run (a gated invoke resuming after its verdict, say). */
const nextTurn = (): Promise<void> => new Promise((r) => setImmediate(r))

type Invocable = { invoke(rc: unknown, input: string, details?: unknown): Promise<unknown>; needsApproval?: unknown }

beforeAll(() => setTracingDisabled(true))

describe('guardAgentTools: needsApproval sees the parsed input, as without the gate', () => {
  const gate = Gate.fromObject({ policies: [{ name: 'transfers', effect: 'permit', conditions: [{ action: 'transfer' }, { param_max: { field: 'amount', max: 100000 } }] }] })

  /** A transfer a human approves when it touches the treasury account, as its schema spells it. */
  function transfer(log: string[]) {
    return tool({
      name: 'transfer',
      description: 'Move money from an account',
      parameters: z.object({ account: z.string().trim().toLowerCase(), amount: z.number() }),
      needsApproval: async (_rc, input) => {
        log.push(`needsApproval saw ${JSON.stringify(input)}`)
        return input.account === 'treasury'
      },
      execute: async ({ account, amount }) => {
        log.push(`transfer ${amount} from ${account}`)
        return 'ok'
      },
    })
  }

  test('the run stops for approval of a call the policy flags only after the transform; approved, it runs on that value', async () => {
    for (const gated of [false, true]) {
      const log: string[] = []
      const t = transfer(log)
      const model = new ScriptedModel([{ callId: 'c1', name: 'transfer', arguments: '{"account":"Treasury ","amount":90000}' }])
      const agent = new Agent({ name: 'payments', model, tools: gated ? guardAgentTools(gate, [t], { caller: support }) : [t] })
      const first = await run(agent, 'move 90000 from the treasury')
      expect(first.interruptions).toHaveLength(1)
      expect(log).toEqual(['needsApproval saw {"account":"treasury","amount":90000}'])

      first.state.approve(first.interruptions[0]!)
      const resumed = await run(agent, first.state)
      expect(resumed.finalOutput).toBe('done')
      expect(log).toEqual(['needsApproval saw {"account":"treasury","amount":90000}', 'transfer 90000 from treasury'])
    }
  })

  test('a static needsApproval (a boolean, or none) stays the same function on the gated copy', () => {
    const always = tool({ name: 'wipe', description: 'w', parameters: z.object({}), needsApproval: true, execute: async () => 'wiped' })
    const never = tool({ name: 'read', description: 'r', parameters: z.object({}), execute: async () => 'read' })
    const [gatedAlways, gatedNever] = guardAgentTools(gate, [always, never], { caller: support }) as unknown as Invocable[]
    expect(gatedAlways!.needsApproval).toBe(always.needsApproval)
    expect(gatedNever!.needsApproval).toBe(never.needsApproval)
  })
})

describe('guardAgentTools: a tool in a namespace is judged under its qualified name', () => {
  // Loyalty-point refunds in the CRM are support's; nobody may refund money through billing.
  const gate = Gate.fromObject({ policies: [{ name: 'crm_points', effect: 'permit', conditions: [{ identity_role: 'support' }, { action: 'crm.refund' }] }] })

  function refund(ran: string[], system: string) {
    return tool({
      name: 'refund',
      description: `refund through ${system}`,
      parameters: z.object({ amount: z.number() }),
      execute: async ({ amount }) => {
        ran.push(`${system}.refund ${amount}`)
        return `${system} refunded ${amount}`
      },
    })
  }

  const calls: FunctionCall[] = [
    { callId: 'c1', name: 'refund', namespace: 'crm', arguments: '{"amount":50}' },
    { callId: 'c2', name: 'refund', namespace: 'billing', arguments: '{"amount":5000}' },
  ]

  async function runWith(tools: unknown[]): Promise<{ seen: Record<string, string> }> {
    const model = new ScriptedModel(calls)
    await run(new Agent({ name: 'support', model, tools: tools as never }), 'refund')
    return { seen: outputsSeen(model) }
  }

  test('namespaced, then gated: crm.refund runs, billing.refund is refused under its own name', async () => {
    const ran: string[] = []
    const crm = toolNamespace({ name: 'crm', description: 'CRM tools', tools: [refund(ran, 'crm')] })
    const billing = toolNamespace({ name: 'billing', description: 'Billing tools', tools: [refund(ran, 'billing')] })
    const { seen } = await runWith(guardAgentTools(gate, [...crm, ...billing], { caller: support }))
    expect(ran).toEqual(['crm.refund 50'])
    expect(seen.c1).toContain('crm refunded 50')
    expect(seen.c2).toContain('NO_POLICY_MATCH')
    expect(seen.c2).toContain("no policy permits 'billing.refund'")
  })

  test('gated, then namespaced: the namespace given to the gated copy counts the same', async () => {
    const ran: string[] = []
    const crm = toolNamespace({ name: 'crm', description: 'CRM tools', tools: guardAgentTools(gate, [refund(ran, 'crm')], { caller: support }) })
    const billing = toolNamespace({ name: 'billing', description: 'Billing tools', tools: guardAgentTools(gate, [refund(ran, 'billing')], { caller: support }) })
    const { seen } = await runWith([...crm, ...billing])
    expect(ran).toEqual(['crm.refund 50'])
    expect(seen.c2).toContain("no policy permits 'billing.refund'")
  })

  test('an invoke called without its tool as this cannot tell which tool it is: it throws and nothing runs', async () => {
    const ran: string[] = []
    const [gated] = guardAgentTools(gate, [refund(ran, 'crm')], { caller: support }) as unknown as Invocable[]
    const unbound = gated!.invoke
    await expect(unbound({ context: {} }, '{"amount":1}')).rejects.toThrow(InvalidArgumentError)
    await expect(unbound({ context: {} }, '{"amount":1}')).rejects.toThrow(
      "cannot gate a call of tool 'refund': its invoke was called without a tool as 'this' (got undefined), so the tool (and its namespace) is not known; call tool.invoke(...)",
    )
    expect(ran).toEqual([])
  })

  test("an app's wrapper of a gated tool forwarding its this runs under the real runner, namespaced: crm.refund runs, billing.refund is refused", async () => {
    const ran: string[] = []
    const timed: string[] = []
    /** A metrics wrapper: the same tool, its invoke called through with the wrapper as `this`. */
    function withTiming<T extends object>(t: T): T {
      const inner = (t as unknown as Invocable).invoke
      return {
        ...t,
        invoke: async function (this: unknown, ...args: Parameters<Invocable['invoke']>) {
          try {
            return await inner.apply(this, args)
          } finally {
            timed.push(String((t as { name?: unknown }).name))
          }
        },
      }
    }
    const [crmRefund] = guardAgentTools(gate, [refund(ran, 'crm')], { caller: support })
    const [billingRefund] = guardAgentTools(gate, [refund(ran, 'billing')], { caller: support })
    const crm = toolNamespace({ name: 'crm', description: 'CRM tools', tools: [withTiming(crmRefund!)] })
    const billing = toolNamespace({ name: 'billing', description: 'Billing tools', tools: [withTiming(billingRefund!)] })
    const { seen } = await runWith([...crm, ...billing])
    expect(ran).toEqual(['crm.refund 50'])
    expect(seen.c1).toContain('crm refunded 50')
    expect(seen.c2).toContain("no policy permits 'billing.refund'")
    expect(timed).toEqual(['refund', 'refund'])
  })

  test('an invoke called on a tool of another name throws naming both; nothing runs', async () => {
    const ran: string[] = []
    const [gated] = guardAgentTools(gate, [refund(ran, 'crm')], { caller: support }) as unknown as Invocable[]
    const other = { name: 'lookup', invoke: gated!.invoke }
    await expect(other.invoke({ context: {} }, '{"amount":1}')).rejects.toThrow(InvalidArgumentError)
    await expect(other.invoke({ context: {} }, '{"amount":1}')).rejects.toThrow(
      "cannot gate a call of tool 'refund': its invoke was called with a tool named 'lookup' as 'this', not 'refund', so the tool (and its namespace) is not known; call tool.invoke(...)",
    )
    expect(ran).toEqual([])
  })
})

describe('guardAgentTools: a call aborted while the gate decides never starts the tool', () => {
  function refund(ran: number[], timeoutMs?: number) {
    return tool({
      name: 'refund',
      description: 'Refund an amount',
      parameters: z.object({ amount: z.number() }),
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
      execute: async ({ amount }) => {
        ran.push(amount)
        return `refunded ${amount}`
      },
    })
  }
  const policies = { policies: [{ name: 'refunds', effect: 'permit' as const, conditions: [{ action: 'refund' }] }] }

  test('the signal fires as the gate answers (a cancelled run): the call rejects with its reason and execute never runs', async () => {
    const controller = new AbortController()
    const reason = new Error('user cancelled')
    // The hook runs as the verdict is handed back: the run is cancelled while the gate decides.
    const gate = Gate.fromObject(policies, { onVerdict: () => controller.abort(reason) })
    const ran: number[] = []
    const [gated] = guardAgentTools(gate, [refund(ran)], { caller: support }) as unknown as Invocable[]
    await expect(gated!.invoke({ context: {} }, '{"amount":70}', { signal: controller.signal })).rejects.toBe(reason)
    expect(ran).toEqual([])

    const cancelled = new AbortController()
    const runGate = Gate.fromObject(policies, { onVerdict: () => cancelled.abort(reason) })
    const agent = new Agent({ name: 'a', model: new ScriptedModel([{ callId: 'c1', name: 'refund', arguments: '{"amount":70}' }]), tools: guardAgentTools(runGate, [refund(ran)], { caller: support }) })
    await expect(run(agent, 'refund 70', { signal: cancelled.signal })).rejects.toBe(reason)
    await nextTurn()
    expect(ran).toEqual([])
  })

  describe('a tool timeout that fires while a Redis store holds the gate', () => {
    let redis: RedisProcess
    let rateStore: RedisRateLimitStore
    beforeAll(async () => {
      // A private server: CLIENT PAUSE holds every client of it (WRITE: the store's script waits, CLIENT UNPAUSE does not).
      redis = await RedisProcess.start(['--appendonly', 'no'], 7141)
      rateStore = await RedisRateLimitStore.connect(redis.url, { prefix: uniquePrefix('agents-timeout'), commandTimeoutMs: 60_000 })
    })
    afterAll(async () => {
      rateStore?.close()
      await redis?.destroy()
    })

    test('the model is told the tool timed out, and the tool does not start when the gate answers later', async () => {
      let answered!: (v: Verdict) => void
      const verdict = new Promise<Verdict>((r) => (answered = r))
      const gate = Gate.fromObject(
        { policies: [{ name: 'refunds', effect: 'permit', conditions: [{ action: 'refund' }, { rate_limit: { max: 10, window: '1h' } }] }] },
        { rateStore, onVerdict: (v) => answered(v) },
      )
      const ran: number[] = []
      const model = new ScriptedModel([{ callId: 'c1', name: 'refund', arguments: '{"amount":70}' }])
      const agent = new Agent({ name: 'a', model, tools: guardAgentTools(gate, [refund(ran, 50)], { caller: support }) })
      execFileSync('redis-cli', ['-p', '7141', 'client', 'pause', '60000', 'WRITE'])
      try {
        // The store does not answer until unpaused: the tool's timeout fires first, and the run goes on without it.
        const result = await run(agent, 'refund 70')
        expect(result.finalOutput).toBe('done')
        expect(outputsSeen(model).c1).toBe(JSON.stringify({ type: 'text', text: "Tool 'refund' timed out after 50ms." }))
      } finally {
        execFileSync('redis-cli', ['-p', '7141', 'client', 'unpause'])
      }
      expect((await verdict).isPermit).toBe(true)
      await nextTurn()
      expect(ran).toEqual([])
      await gate.close()
    })
  })
})
