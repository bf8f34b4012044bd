// gateMcpServer(): a real McpServer (@modelcontextprotocol/sdk) with every tool gated, called by
// the SDK's own Client over its in-memory transport and over stdio (a child-process server).
// A Redis outage (a real Redis behind a TCP relay that is cut) shows what the model reads.

import { connect, createServer, type Socket } from 'node:net'
import { join } from 'node:path'

import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js'
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js'
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import Redis from 'ioredis'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { z } from 'zod'

import { Gate, InvalidArgumentError, KavachKeyPair, PqTokenSigner, RedisSessionStore, gateMcpServer, type McpCaller, type McpKavachMiddleware, type McpRequestExtra, type Verdict } from '../index'
import { REDIS_URL, uniquePrefix } from './fixtures/redis-helpers'

const root = join(__dirname, '..')

const POLICY = {
  policies: [
    { name: 'support_refunds', effect: 'permit' as const, conditions: [{ identity_role: 'support' }, { action: 'refund' }, { param_max: { field: 'amount', max: 1000 } }] },
    { name: 'anyone_pings', effect: 'permit' as const, conditions: [{ action: 'ping' }] },
    { name: 'anyone_late', effect: 'permit' as const, conditions: [{ action: 'late_tool' }, { param_max: { field: 'n', max: 5 } }] },
    { name: 'anyone_small_tasks', effect: 'permit' as const, conditions: [{ action: 'late_tool_task' }, { param_max: { field: 'n', max: 5 } }] },
  ],
}

type ToolResult = { content: { type: string; text: string }[]; isError?: boolean }

/** The caller from the request's `_meta` and the transport's session id. */
function identify(extra: McpRequestExtra): McpCaller | undefined {
  const meta = extra._meta ?? {}
  if (typeof meta.callerId !== 'string') return undefined
  return { callerId: meta.callerId, roles: Array.isArray(meta.roles) ? meta.roles.map(String) : [], sessionId: extra.sessionId }
}

const support = { callerId: 'agent-1', roles: ['support'] }

describe('gateMcpServer over the in-memory transport', () => {
  const ran: string[] = []
  let client: Client
  let server: McpServer
  let mw: McpKavachMiddleware

  const call = async (name: string, args: Record<string, unknown>, meta: Record<string, unknown> | null = support): Promise<ToolResult> =>
    (await client.callTool({ name, arguments: args, ...(meta === null ? {} : { _meta: meta }) })) as ToolResult

  beforeAll(async () => {
    server = new McpServer({ name: 'gated', version: '1.0.0' })
    server.registerTool('refund', { inputSchema: { amount: z.number() } }, ({ amount }) => {
      ran.push(`refund:${amount}`)
      return { content: [{ type: 'text', text: `refunded ${amount}` }] }
    })
    server.registerTool('ping', {}, () => {
      ran.push('ping')
      return { content: [{ type: 'text', text: 'pong' }] }
    })
    mw = gateMcpServer(server, Gate.fromObject(POLICY), { identify })
    server.registerTool('late_tool', { inputSchema: { n: z.number() } }, ({ n }) => {
      ran.push(`late:${n}`)
      return { content: [{ type: 'text', text: `late ${n}` }] }
    })
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair()
    serverSide.sessionId = 'mem-session-1'
    await server.connect(serverSide)
    client = new Client({ name: 'test-client', version: '1.0.0' })
    await client.connect(clientSide)
  })
  afterAll(async () => {
    await client.close()
    await server.close()
  })

  test('a permitted call runs the tool', async () => {
    const r = await call('refund', { amount: 200 })
    expect(r.isError).toBeFalsy()
    expect(r.content[0]!.text).toBe('refunded 200')
    expect(ran).toContain('refund:200')
  })

  test('a refused call returns an isError result with code and reason, and the tool never runs', async () => {
    const before = ran.length
    const r = await call('refund', { amount: 5000 })
    expect(r.isError).toBe(true)
    expect(r.content[0]!.text).toMatch(/^kavach refused 'refund': NO_POLICY_MATCH: /)
    const stranger = await call('refund', { amount: 1 }, { callerId: 'agent-2', roles: ['intern'] })
    expect(stranger.isError).toBe(true)
    expect(ran.length).toBe(before)
  })

  test('no caller (identify returns nothing) is refused with INVALID_CONTEXT', async () => {
    const before = ran.length
    const r = await call('ping', {}, null)
    expect(r.isError).toBe(true)
    expect(r.content[0]!.text).toContain('INVALID_CONTEXT')
    expect(ran.length).toBe(before)
  })

  test('tools without an input schema and tools registered after gating are gated', async () => {
    expect((await call('ping', {})).content[0]!.text).toBe('pong')
    expect((await call('late_tool', { n: 3 })).content[0]!.text).toBe('late 3')
    const before = ran.length
    const r = await call('late_tool', { n: 9 })
    expect(r.isError).toBe(true)
    expect(ran.length).toBe(before)
  })

  test('a handler replaced with update({ callback }) is gated too', async () => {
    const tools = (server as unknown as { _registeredTools: Record<string, { update(u: { callback: () => unknown }): void }> })._registeredTools
    tools.ping!.update({
      callback: () => {
        ran.push('ping2')
        return { content: [{ type: 'text', text: 'pong2' }] }
      },
    })
    expect((await call('ping', {})).content[0]!.text).toBe('pong2')
    const before = ran.length
    expect((await call('ping', {}, null)).isError).toBe(true)
    expect(ran.length).toBe(before)
  })

  test('a revoked session is refused on the next call', async () => {
    expect((await call('refund', { amount: 1 })).isError).toBeFalsy()
    await mw.invalidateSession('mem-session-1', 'operator revoked it')
    const before = ran.length
    const r = await call('refund', { amount: 1 })
    expect(r.isError).toBe(true)
    expect(r.content[0]!.text).toContain("SESSION_INVALID: session 'mem-session-1' was invalidated")
    expect(ran.length).toBe(before)
  })

  test('a task tool (experimental SDK API): its task is created only on Permit', async () => {
    const created: number[] = []
    server.experimental.tasks.registerToolTask('late_tool_task', { inputSchema: { n: z.number() }, execution: { taskSupport: 'optional' } }, {
      createTask: async ({ n }) => {
        created.push(n)
        return { task: { taskId: `t-${n}`, status: 'working', ttl: null, createdAt: new Date().toISOString(), lastUpdatedAt: new Date().toISOString() } }
      },
      getTask: async () => {
        throw new Error('not used')
      },
      getTaskResult: async () => {
        throw new Error('not used')
      },
    })
    // The handler object the SDK calls for this tool (its registry is where gating hooks in).
    const tools = (server as unknown as { _registeredTools: Record<string, { handler: { createTask(a: unknown, e: unknown): Promise<unknown> } }> })._registeredTools
    const handler = tools.late_tool_task!.handler
    await expect(handler.createTask({ n: 1 }, { _meta: support })).resolves.toMatchObject({ task: { taskId: 't-1' } })
    await expect(handler.createTask({ n: 9 }, { _meta: support })).rejects.toThrow(/^kavach refused 'late_tool_task': NO_POLICY_MATCH/)
    expect(created).toEqual([1])
  })

  test('an identify that throws is refused IDENTITY_FAILED with a generic reason; onRefusal gets what it threw; the tool never runs', async () => {
    let runs = 0
    const causes: unknown[] = []
    const s = new McpServer({ name: 'throwing-identify', version: '1.0.0' })
    s.registerTool('ping', {}, () => {
      runs++
      return { content: [{ type: 'text', text: 'pong' }] }
    })
    gateMcpServer(s, Gate.fromObject(POLICY), {
      identify: () => {
        throw new Error('bearer token expired')
      },
      onRefusal: (_name, _v, _extra, cause) => void causes.push(cause),
    })
    const [c, t] = InMemoryTransport.createLinkedPair()
    await s.connect(t)
    const cl = new Client({ name: 'c', version: '1.0.0' })
    await cl.connect(c)
    try {
      const r = (await cl.callTool({ name: 'ping', arguments: {} })) as ToolResult
      expect(r.isError).toBe(true)
      expect(r.content[0]!.text).toBe("kavach refused 'ping': IDENTITY_FAILED: the gate could not sign or verify identity for this call; the tool did not run")
      expect(String(causes[0])).toContain('bearer token expired')
      expect(runs).toBe(0)
    } finally {
      await cl.close()
      await s.close()
    }
  })

  test('a server without a tool registry is rejected, not left ungated', () => {
    expect(() => gateMcpServer({ server: {} }, Gate.fromObject(POLICY), { identify })).toThrow(InvalidArgumentError)
  })
})

describe('gateMcpServer over stdio (child-process server)', () => {
  let client: Client
  const call = async (name: string, args: Record<string, unknown>, meta: Record<string, unknown>): Promise<ToolResult> =>
    (await client.callTool({ name, arguments: args, _meta: meta })) as ToolResult

  beforeAll(async () => {
    const transport = new StdioClientTransport({
      command: join(root, 'node_modules/.bin/tsx'),
      args: [join(root, '__test__/fixtures/mcp-stdio-server.ts')],
      cwd: root,
      stderr: 'inherit',
    })
    client = new Client({ name: 'stdio-test-client', version: '1.0.0' })
    await client.connect(transport)
  }, 60_000)
  afterAll(async () => {
    await client.close()
  })

  test('permitted call runs, refused call returns the error result and never runs, a revoked session is refused next', async () => {
    const agent = { ...support, sessionId: 'stdio-sess-1' }
    const ok = await call('refund', { amount: 300 }, agent)
    expect(ok.isError).toBeFalsy()
    expect(ok.content[0]!.text).toBe('refunded 300')

    const refused = await call('refund', { amount: 3000 }, agent)
    expect(refused.isError).toBe(true)
    expect(refused.content[0]!.text).toMatch(/^kavach refused 'refund': NO_POLICY_MATCH: /)

    // Only an admin may revoke (the tool was registered after gating).
    expect((await call('revoke_session', { sessionId: 'stdio-sess-1' }, support)).isError).toBe(true)
    const revoked = await call('revoke_session', { sessionId: 'stdio-sess-1' }, { callerId: 'ops', roles: ['admin'] })
    expect(revoked.content[0]!.text).toBe('revoked stdio-sess-1')

    const after = await call('refund', { amount: 1 }, agent)
    expect(after.isError).toBe(true)
    expect(after.content[0]!.text).toContain('SESSION_INVALID')
    // Another session of the same agent still works.
    expect((await call('refund', { amount: 2 }, { ...support, sessionId: 'stdio-sess-2' })).isError).toBeFalsy()

    // What ran in the server process: the permitted calls only.
    const runs = JSON.parse((await call('runs', {}, support)).content[0]!.text) as string[]
    expect(runs).toEqual(['refund:300', 'revoke_session:stdio-sess-1', 'refund:2'])
  })
})

/** A TCP relay to the test Redis on a free port; `cut()` closes it and every connection. */
async function redisRelay(): Promise<{ url: string; cut(): Promise<void> }> {
  const target = new URL(REDIS_URL)
  const sockets = new Set<Socket>()
  const relay = createServer((client) => {
    const upstream = connect(Number(target.port || 6379), target.hostname)
    for (const s of [client, upstream]) {
      sockets.add(s)
      s.on('error', () => s.destroy())
      s.on('close', () => sockets.delete(s))
    }
    client.pipe(upstream).pipe(client)
  })
  await new Promise<void>((ok) => relay.listen(0, '127.0.0.1', ok))
  const { port } = relay.address() as { port: number }
  return {
    url: `redis://127.0.0.1:${port}`,
    cut: () =>
      new Promise<void>((done) => {
        for (const s of sockets) s.destroy()
        relay.close(() => done())
      }),
  }
}

describe('gateMcpServer when a Redis store fails', () => {
  const GENERIC = "kavach refused 'refund': STORE_UNAVAILABLE: a store the gate depends on is unavailable; the tool did not run"

  test("the model reads a generic reason; the store's detail reaches onRefusal only; the tool never runs", async () => {
    const relay = await redisRelay()
    const prefix = uniquePrefix('mcp-outage')
    const opts = { ttlSeconds: 60, prefix, commandTimeoutMs: 500 }
    // One server whose middleware reads revocations from Redis, one whose gate keeps its sessions there.
    const revocations = await RedisSessionStore.connect(relay.url, opts)
    const sessions = await RedisSessionStore.connect(relay.url, opts)
    const servers = [
      { label: 'middleware store', gate: Gate.fromObject(POLICY), sessionStore: revocations },
      { label: 'gate store', gate: Gate.fromObject(POLICY, { sessionStore: sessions }), sessionStore: undefined },
    ]
    const cleanup: Array<() => Promise<unknown> | unknown> = [() => revocations.close(), () => sessions.close()]
    try {
      const setups = []
      for (const s of servers) {
        let runs = 0
        const logged: Verdict[] = []
        const server = new McpServer({ name: s.label, version: '1.0.0' })
        server.registerTool('refund', { inputSchema: { amount: z.number() } }, ({ amount }) => {
          runs++
          return { content: [{ type: 'text', text: `refunded ${amount}` }] }
        })
        gateMcpServer(server, s.gate, {
          identify: () => ({ ...support, sessionId: 'outage-1' }),
          ...(s.sessionStore === undefined ? {} : { sessionStore: s.sessionStore }),
          onRefusal: (tool, v) => {
            logged.push(v)
          },
        })
        const [clientSide, serverSide] = InMemoryTransport.createLinkedPair()
        await server.connect(serverSide)
        const client = new Client({ name: 'c', version: '1.0.0' })
        await client.connect(clientSide)
        cleanup.push(() => client.close(), () => server.close(), () => s.gate.close())
        const call = async () => (await client.callTool({ name: 'refund', arguments: { amount: 1 } })) as ToolResult
        setups.push({ label: s.label, call, logged, runs: () => runs })
      }
      for (const s of setups) expect((await s.call()).content[0]!.text, s.label).toBe('refunded 1')
      await relay.cut()
      for (const s of setups) {
        const r = await s.call()
        expect(r.isError, s.label).toBe(true)
        expect(r.content[0]!.text, s.label).toBe(GENERIC)
        expect(s.runs(), s.label).toBe(1)
        // The detail stays on the server: the full verdict, with the store's own reason.
        expect(s.logged, s.label).toHaveLength(1)
        expect(s.logged[0], s.label).toMatchObject({ kind: 'refuse', code: 'STORE_UNAVAILABLE', evaluator: 'session_store' })
        expect(s.logged[0]!.reason, s.label).toContain('redis unavailable')
      }
    } finally {
      for (const c of cleanup.reverse()) await c()
      const redis = new Redis(REDIS_URL)
      const keys = await redis.keys(`kavach:${prefix}:*`)
      if (keys.length > 0) await redis.del(...keys)
      redis.disconnect()
    }
  })

  test('an onRefusal that throws or rejects changes nothing: the call is refused, the tool never runs', async () => {
    for (const onRefusal of [() => { throw new Error('logger down') }, () => Promise.reject(new Error('logger down'))]) {
      let runs = 0
      const server = new McpServer({ name: 'hook', version: '1.0.0' })
      server.registerTool('refund', { inputSchema: { amount: z.number() } }, () => {
        runs++
        return { content: [{ type: 'text', text: 'refunded' }] }
      })
      gateMcpServer(server, Gate.fromObject(POLICY), { identify: () => support, onRefusal })
      const [c, t] = InMemoryTransport.createLinkedPair()
      await server.connect(t)
      const client = new Client({ name: 'c', version: '1.0.0' })
      await client.connect(c)
      try {
        const r = (await client.callTool({ name: 'refund', arguments: { amount: 5000 } })) as ToolResult
        expect(r.isError).toBe(true)
        expect(r.content[0]!.text).toMatch(/^kavach refused 'refund': NO_POLICY_MATCH: /)
        expect(runs).toBe(0)
      } finally {
        await client.close()
        await server.close()
      }
    }
    expect(() => gateMcpServer(new McpServer({ name: 'x', version: '1' }), Gate.fromObject(POLICY), { identify, onRefusal: 'log' as never })).toThrow(InvalidArgumentError)
  })
})

describe('gateMcpServer: a permit that cannot be signed', () => {
  test('the model reads a generic IDENTITY_FAILED line; onRefusal gets the signer error', async () => {
    // A key pair that expired as it was made: signing every permit fails.
    const signer = PqTokenSigner.fromKeypairHybrid(KavachKeyPair.generateWithExpiry(0))
    const gate = Gate.fromObject({ policies: [{ name: 'all', effect: 'permit', conditions: [{ identity_role: 'support' }] }] }, { tokenSigner: signer })
    const refusals: Verdict[] = []
    const ran: string[] = []
    const server = new McpServer({ name: 'signed', version: '1.0.0' })
    server.registerTool('refund', { inputSchema: { amount: z.number() } }, ({ amount }) => {
      ran.push(`refund:${amount}`)
      return { content: [{ type: 'text', text: 'ran' }] }
    })
    gateMcpServer(server, gate, { identify: () => ({ callerId: 'agent-1', roles: ['support'] }), onRefusal: (_name, v) => void refusals.push(v) })
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair()
    await server.connect(serverSide)
    const client = new Client({ name: 'c', version: '1.0.0' })
    await client.connect(clientSide)
    try {
      const r = (await client.callTool({ name: 'refund', arguments: { amount: 1 } })) as ToolResult
      expect(r.isError).toBe(true)
      expect(r.content[0]!.text).toBe("kavach refused 'refund': IDENTITY_FAILED: the gate could not sign or verify identity for this call; the tool did not run")
      expect(ran).toEqual([])
      expect(refusals.map((v) => v.code)).toEqual(['IDENTITY_FAILED'])
      expect(refusals[0]!.reason).toMatch(/expired/)
    } finally {
      await client.close()
    }
  })
})
