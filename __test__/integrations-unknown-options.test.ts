// Option and caller names the integrations do not know are errors, never dropped: a misspelt
// `identify` would leave the principal to headers the client sends, a misspelt `sessionStore`
// would consult a fresh private store, and a misspelt caller `sessionId` would skip the
// session. Real express 5 and fastify 5 servers answer real fetch requests; a real MCP SDK
// client calls a real McpServer over the in-memory transport.

import type { AddressInfo } from 'node:net'
import type { Server } from 'node:http'

import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js'
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import express from 'express'
import Fastify from 'fastify'
import { describe, expect, test } from 'vitest'
import { z } from 'zod'

import {
  Gate,
  InMemoryInvalidationBroadcaster,
  InMemorySessionStore,
  McpKavachMiddleware,
  createExpressMiddleware,
  createFastifyHook,
  gateMcpServer,
  type HttpMiddlewareOptions,
  type HttpPrincipal,
  type McpCaller,
  type McpMiddlewareOptions,
  type Verdict,
} from '../index'

// --- HTTP: express 5 and fastify 5 ---

const ADMINS_DELETE = Gate.fromObject({ policies: [{ name: 'admins_delete', effect: 'permit', conditions: [{ identity_role: 'admin' }, { action: 'users.delete' }] }] })
/** The principal a verified session cookie names: a viewer, not an admin. */
const verified = (): HttpPrincipal => ({ principalId: 'alice', principalKind: 'user', roles: ['viewer'] })
/** What a client sends to claim to be an admin. */
const FORGED = { 'x-principal-id': 'mallory', 'x-roles': 'admin' }

interface Served {
  /** `DELETE /users/42` with the forged headers: the status and body. */
  deleteUser(): Promise<{ status: number; body: unknown }>
  close(): Promise<void>
}

async function serveExpress(options: HttpMiddlewareOptions): Promise<Served> {
  const app = express()
  app.use(createExpressMiddleware(ADMINS_DELETE, options))
  app.delete('/users/:id', (req, res) => res.json({ deleted: req.params.id }))
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s))
  })
  const { port } = server.address() as AddressInfo
  return served(`http://127.0.0.1:${port}`, () => new Promise((r) => server.close(() => r())))
}

async function serveFastify(options: HttpMiddlewareOptions): Promise<Served> {
  const app = Fastify()
  app.addHook('preHandler', createFastifyHook(ADMINS_DELETE, options))
  app.delete('/users/:id', async (request) => ({ deleted: (request.params as { id: string }).id }))
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as AddressInfo
  return served(`http://127.0.0.1:${port}`, () => app.close())
}

function served(base: string, close: () => Promise<void>): Served {
  return {
    deleteUser: async () => {
      const r = await fetch(`${base}/users/42`, { method: 'DELETE', headers: FORGED })
      return { status: r.status, body: await r.json() }
    },
    close,
  }
}

for (const [name, serve] of [['express 5', serveExpress], ['fastify 5', serveFastify]] as const) {
  describe(`${name}: HttpKavachMiddleware options are checked by name`, () => {
    test('a misspelt identify throws InvalidArgumentError naming it: no server falls back to the forged headers', async () => {
      for (const typo of ['identity', 'identifier']) {
        let started: Served | undefined
        try {
          started = await serve({ [typo]: verified } as HttpMiddlewareOptions)
        } catch (e) {
          expect(e).toMatchObject({ name: 'InvalidArgumentError', code: 'INVALID_ARGUMENT', message: `HttpKavachMiddleware options: unknown option(s) '${typo}'` })
        }
        // Reached only when the middleware took the typo: what the forged headers then get.
        const answer = await started?.deleteUser()
        await started?.close()
        expect(answer, `${typo}: the server ran`).toBeUndefined()
      }
    })

    test('the spelled identify is honoured: the forged headers get a 403', async () => {
      const s = await serve({ identify: verified })
      try {
        expect(await s.deleteUser()).toMatchObject({ status: 403, body: { error: 'forbidden', code: 'NO_POLICY_MATCH' } })
      } finally {
        await s.close()
      }
    })

    test('every documented option is accepted; a value of the wrong type throws naming the option', async () => {
      const s = await serve({
        gateMutationsOnly: true,
        excludedPaths: ['/health'],
        principalHeader: 'x-principal-id',
        rolesHeader: 'x-roles',
        kindHeader: 'x-principal-kind',
        geoResolver: () => undefined,
        identify: verified,
        onRefusal: () => undefined,
      })
      try {
        expect((await s.deleteUser()).status).toBe(403)
      } finally {
        await s.close()
      }
      const cases: [Record<string, unknown>, string][] = [
        [{ excludedPaths: '/health' }, "option 'excludedPaths': must be an array, got string"],
        [{ excludedPaths: ['/health', 5] }, "option 'excludedPaths[1]': must be a string, got number"],
        [{ identify: 'alice' }, "option 'identify': must be a function, got string"],
        [{ gateMutationsOnly: 'no' }, "option 'gateMutationsOnly': must be a boolean, got string"],
        [{ principalHeader: 7 }, "option 'principalHeader': must be a string, got number"],
      ]
      for (const [options, problem] of cases) {
        await expect(serve(options as HttpMiddlewareOptions)).rejects.toThrow(
          expect.objectContaining({ code: 'INVALID_ARGUMENT', message: `HttpKavachMiddleware options: ${problem}` }),
        )
      }
    })
  })
}

// --- MCP: McpKavachMiddleware and gateMcpServer ---

const SUPPORT_REFUNDS = { policies: [{ name: 'support_refunds', effect: 'permit' as const, conditions: [{ identity_role: 'support' }, { action: 'refund' }] }] }

type ToolResult = { content: { type: string; text: string }[]; isError?: boolean }
/** What the tool handler answers. */
type ToolReply = { content: { type: 'text'; text: string }[] }

/** A store in which the operator revoked `sess-1`. */
function revokedStore(): InMemorySessionStore {
  const store = new InMemorySessionStore()
  store.invalidate('sess-1', 'token leaked')
  return store
}

/**
 * A real McpServer with a `refund` tool, called by a real client. `setUp` gates the server
 * (gateMcpServer), or returns a check that runs before the tool (guardTool).
 */
async function mcpServer(setUp: (server: McpServer) => void | ((amount: number) => Promise<ToolReply>)) {
  const ran: number[] = []
  const server = new McpServer({ name: 'refunds', version: '1.0.0' })
  let tool = async (amount: number): Promise<ToolReply> => {
    ran.push(amount)
    return { content: [{ type: 'text', text: `refunded ${amount}` }] }
  }
  const wrapped = setUp(server)
  if (wrapped !== undefined) {
    const inner = tool
    tool = async (amount) => {
      await wrapped(amount)
      return inner(amount)
    }
  }
  server.registerTool('refund', { inputSchema: { amount: z.number() } }, ({ amount }) => tool(amount))
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair()
  await server.connect(serverSide)
  const client = new Client({ name: 'agent', version: '1.0.0' })
  await client.connect(clientSide)
  const call = async (amount: number) => (await client.callTool({ name: 'refund', arguments: { amount } })) as ToolResult
  return { call, ran, close: () => client.close() }
}

/** A tool gated by `mw.guardTool` for `caller`: the handler runs only on Permit. */
function guardedBy(mw: McpKavachMiddleware, caller: McpCaller, errors: unknown[]) {
  return () => {
    const check = mw.guardTool('refund', async () => undefined, caller)
    return async (amount: number): Promise<ToolReply> => {
      await check({ amount }).catch((e: unknown) => {
        errors.push(e)
        throw e
      })
      return { content: [] }
    }
  }
}

/** `s` refuses the call of the revoked `sess-1` and its tool does not run; closes `s` and `gate`. */
async function expectRevokedSessionRefused(s: Awaited<ReturnType<typeof mcpServer>>, gate: Gate): Promise<void> {
  try {
    const r = await s.call(5)
    expect(r.isError).toBe(true)
    expect(r.content[0]!.text).toContain("SESSION_INVALID: session 'sess-1' was invalidated")
    expect(s.ran).toEqual([])
  } finally {
    await s.close()
    await gate.close()
  }
}

describe('McpKavachMiddleware options are checked by name', () => {
  test('a misspelt sessionStore throws InvalidOptionsError naming it, at construction', () => {
    const gate = Gate.fromObject(SUPPORT_REFUNDS)
    const store = revokedStore()
    for (const typo of ['session_store', 'store']) {
      expect(() => new McpKavachMiddleware(gate, { [typo]: store } as McpMiddlewareOptions)).toThrow(
        expect.objectContaining({ name: 'InvalidOptionsError', code: 'INVALID_OPTIONS', message: `McpKavachMiddleware options: unknown option(s) '${typo}'` }),
      )
    }
    expect(() => new McpKavachMiddleware(gate, { sessionStore: 5 } as never)).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTIONS', message: "McpKavachMiddleware options: option 'sessionStore': must be a SessionStore or RedisSessionStore instance, got number" }),
    )
    expect(() => new McpKavachMiddleware(gate, { broadcaster: 'redis' } as never)).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTIONS', message: "McpKavachMiddleware options: option 'broadcaster': must be a InMemoryInvalidationBroadcaster or RedisInvalidationBroadcaster instance, got string" }),
    )
  })

  test('through gateMcpServer on a real McpServer: a misspelt sessionStore throws; the spelled one refuses the revoked session', async () => {
    const identify = (): McpCaller => ({ callerId: 'agent-1', roles: ['support'], sessionId: 'sess-1' })
    const store = revokedStore()
    expect(() => gateMcpServer(new McpServer({ name: 'x', version: '1.0.0' }), Gate.fromObject(SUPPORT_REFUNDS), { identify, session_store: store } as never)).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTIONS', message: "gateMcpServer options: unknown option(s) 'session_store'" }),
    )
    // The middleware itself takes no `identify` (gateMcpServer's own option): it is no silent no-op there.
    expect(() => new McpKavachMiddleware(Gate.fromObject(SUPPORT_REFUNDS), { identify } as never)).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTIONS', message: "McpKavachMiddleware options: unknown option(s) 'identify'" }),
    )
    const gate = Gate.fromObject(SUPPORT_REFUNDS)
    const s = await mcpServer((server) => void gateMcpServer(server, gate, { identify, sessionStore: store, broadcaster: new InMemoryInvalidationBroadcaster() }))
    await expectRevokedSessionRefused(s, gate)
  })
})

describe('McpKavachMiddleware: a caller key that is no caller field is refused, never dropped', () => {
  const expected = 'callerId, callerKind, roles, sessionId, ip, currentGeo, originGeo, originIp, device, originDevice, sessionStartedAt, resource'

  test('guardTool on a real McpServer: a misspelt sessionId rejects with INVALID_CONTEXT naming it; the tool does not run', async () => {
    const gate = Gate.fromObject(SUPPORT_REFUNDS)
    const mw = new McpKavachMiddleware(gate, { sessionStore: revokedStore() })
    try {
      for (const typo of ['session_id', 'sessionID']) {
        const errors: unknown[] = []
        const s = await mcpServer(guardedBy(mw, { callerId: 'agent-1', roles: ['support'], [typo]: 'sess-1' } as McpCaller, errors))
        try {
          const r = await s.call(5)
          expect(r.isError, typo).toBe(true)
          expect(s.ran, typo).toEqual([])
          expect(errors).toEqual([
            expect.objectContaining({ name: 'InvalidContextError', code: 'INVALID_CONTEXT', message: `caller: unknown key(s) '${typo}' (expected one of ${expected})` }),
          ])
          expect(r.content[0]!.text).toContain(`unknown key(s) '${typo}'`)
        } finally {
          await s.close()
        }
      }
      // The spelled field reaches the store: the revoked session is an Invalidate.
      expect((await mw.evaluateToolCall('refund', { amount: 5 }, { callerId: 'agent-1', roles: ['support'], sessionId: 'sess-1' })).kind).toBe('invalidate')
      await expect(mw.evaluateToolCall('refund', { amount: 5 }, { callerId: 'agent-1', roles: ['support'], session_id: 'sess-1', sesion: 'x' } as McpCaller)).rejects.toThrow(
        expect.objectContaining({ code: 'INVALID_CONTEXT', message: `caller: unknown key(s) 'session_id', 'sesion' (expected one of ${expected})` }),
      )
    } finally {
      await gate.close()
    }
  })

  test('gateMcpServer: an identify returning a misspelt sessionId is refused (IDENTITY_FAILED); onRefusal reads the key', async () => {
    const refused: Verdict[] = []
    const gate = Gate.fromObject(SUPPORT_REFUNDS)
    const identify = (): McpCaller => ({ callerId: 'agent-1', roles: ['support'], session_id: 'sess-1' }) as McpCaller
    const s = await mcpServer((server) => void gateMcpServer(server, gate, { identify, sessionStore: revokedStore(), onRefusal: (_name, v) => void refused.push(v) }))
    try {
      const r = await s.call(5)
      expect(r.isError).toBe(true)
      expect(r.content[0]!.text).toMatch(/^kavach refused 'refund': IDENTITY_FAILED: /)
      expect(s.ran).toEqual([])
      expect(refused.map((v) => [v.code, v.reason])).toEqual([
        ['IDENTITY_FAILED', `identify() returned a caller the gate cannot take: caller: unknown key(s) 'session_id' (expected one of ${expected})`],
      ])
    } finally {
      await s.close()
      await gate.close()
    }
  })
})

// --- Options given as a class instance or as Object.create(defaults) ---

/**
 * Runs `fn` with `Object.prototype[name]` set to `value` (as a prototype pollution would set it),
 * deleting it afterwards.
 */
async function withPolluted<R>(name: string, value: unknown, fn: () => R | Promise<R>): Promise<R> {
  ;(Object.prototype as Record<string, unknown>)[name] = value
  try {
    return await fn()
  } finally {
    delete (Object.prototype as Record<string, unknown>)[name]
  }
}

/** What a verified session cookie names, from a class: `identify` is a method on its prototype. */
class SessionAuth {
  // Private: an own enumerable field would be an option name, and unknown.
  readonly #user = 'alice'
  identify(): HttpPrincipal {
    return { principalId: this.#user, principalKind: 'user', roles: ['viewer'] }
  }
}

for (const [name, serve] of [['express 5', serveExpress], ['fastify 5', serveFastify]] as const) {
  describe(`${name}: HttpKavachMiddleware options read through their own prototypes, never Object.prototype`, () => {
    test('a class instance with an identify method is honoured: the forged headers get a 403', async () => {
      const s = await serve(new SessionAuth())
      try {
        expect(await s.deleteUser()).toMatchObject({ status: 403, body: { error: 'forbidden', code: 'NO_POLICY_MATCH' } })
      } finally {
        await s.close()
      }
    })

    test('a Proxy that answers identify from its get trap only (no own property) is honoured', async () => {
      const lazy = new Proxy({}, { get: (_target, key) => (key === 'identify' ? verified : undefined) })
      const s = await serve(lazy as HttpMiddlewareOptions)
      try {
        expect(await s.deleteUser()).toMatchObject({ status: 403, body: { error: 'forbidden', code: 'NO_POLICY_MATCH' } })
      } finally {
        await s.close()
      }
    })

    test('Object.create(defaults) is honoured; a typo in the defaults throws naming it', async () => {
      const s = await serve(Object.create({ identify: verified }) as HttpMiddlewareOptions)
      try {
        expect(await s.deleteUser()).toMatchObject({ status: 403, body: { error: 'forbidden', code: 'NO_POLICY_MATCH' } })
      } finally {
        await s.close()
      }
      await expect(serve(Object.create({ identity: verified }) as HttpMiddlewareOptions)).rejects.toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT', message: "HttpKavachMiddleware options: unknown option(s) 'identity'" }),
      )
    })

    test('a polluted Object.prototype.identify is not honoured: the roles header the options name decides', async () => {
      const admin = (): HttpPrincipal => ({ principalId: 'mallory', principalKind: 'user', roles: ['admin'] })
      // The forged x-roles is not the header these options read, so only the pollution could make an admin.
      const s = await withPolluted('identify', admin, () => serve({ rolesHeader: 'x-verified-roles' }))
      try {
        expect(await s.deleteUser()).toMatchObject({ status: 403, body: { error: 'forbidden', code: 'NO_POLICY_MATCH' } })
      } finally {
        await s.close()
      }
    })
  })
}

describe('McpKavachMiddleware and gateMcpServer options read through their own prototypes, never Object.prototype', () => {
  test('an inherited sessionStore (Object.create(defaults)) is the store asked: the revoked session is refused', async () => {
    const gate = Gate.fromObject(SUPPORT_REFUNDS)
    const mw = new McpKavachMiddleware(gate, Object.create({ sessionStore: revokedStore() }) as McpMiddlewareOptions)
    const v = await mw.evaluateToolCall('refund', { amount: 5 }, { callerId: 'agent-1', roles: ['support'], sessionId: 'sess-1' })
    expect(v).toMatchObject({ kind: 'invalidate', evaluator: 'session_store' })
    expect(() => new McpKavachMiddleware(gate, Object.create({ session_store: revokedStore() }) as McpMiddlewareOptions)).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTIONS', message: "McpKavachMiddleware options: unknown option(s) 'session_store'" }),
    )
  })

  test('gateMcpServer on a real McpServer with a class instance: its identify method and inherited store are used', async () => {
    const store = revokedStore()
    class RefundsOptions {
      readonly #session = 'sess-1'
      identify(): McpCaller {
        return { callerId: 'agent-1', roles: ['support'], sessionId: this.#session }
      }
    }
    Object.defineProperty(RefundsOptions.prototype, 'sessionStore', { value: store })
    const gate = Gate.fromObject(SUPPORT_REFUNDS)
    const s = await mcpServer((server) => void gateMcpServer(server, gate, new RefundsOptions() as never))
    await expectRevokedSessionRefused(s, gate)
  })

  test('Object.prototype pollution neither refuses every call (an enumerable unknown key) nor grants a role', async () => {
    const gate = Gate.fromObject(SUPPORT_REFUNDS)
    const mw = new McpKavachMiddleware(gate)
    const tenant = await withPolluted('tenant', 1, () => mw.evaluateToolCall('refund', { amount: 5 }, { callerId: 'agent-1', roles: ['support'] }))
    expect(tenant.kind).toBe('permit')
    const roles = await withPolluted('roles', ['support'], () => mw.evaluateToolCall('refund', { amount: 5 }, { callerId: 'agent-1' }))
    expect(roles).toMatchObject({ kind: 'refuse', code: 'NO_POLICY_MATCH' })
  })

  test('a sessionStore given by a Proxy get trap only is the store asked', async () => {
    const gate = Gate.fromObject(SUPPORT_REFUNDS)
    const store = revokedStore()
    const lazy = new Proxy({}, { get: (_target, key) => (key === 'sessionStore' ? store : undefined) })
    const mw = new McpKavachMiddleware(gate, lazy as McpMiddlewareOptions)
    const v = await mw.evaluateToolCall('refund', { amount: 5 }, { callerId: 'agent-1', roles: ['support'], sessionId: 'sess-1' })
    expect(v).toMatchObject({ kind: 'invalidate', evaluator: 'session_store' })
  })

  test('a polluted Object.prototype.sessionStore or identify is not honoured', async () => {
    const gate = Gate.fromObject(SUPPORT_REFUNDS)
    const mw = await withPolluted('sessionStore', revokedStore(), () => new McpKavachMiddleware(gate, {}))
    const v = await mw.evaluateToolCall('refund', { amount: 5 }, { callerId: 'agent-1', roles: ['support'], sessionId: 'sess-1' })
    expect(v.kind).toBe('permit')
    const identify = (): McpCaller => ({ callerId: 'agent-1', roles: ['support'] })
    const server = new McpServer({ name: 'x', version: '1.0.0' })
    await expect(withPolluted('identify', identify, () => gateMcpServer(server, gate, {} as never))).rejects.toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT', message: 'gateMcpServer needs options.identify(extra)' }),
    )
  })
})
