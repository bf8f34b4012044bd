// gateMcpServer() on what a client reads without a tool call: resources, resource templates and
// prompts of a real McpServer (@modelcontextprotocol/sdk), read by the SDK's own Client over its
// in-memory transport. A refusal is a JSON-RPC error with code -32003; the callback never runs.

import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js'
import { McpServer, ResourceTemplate } from '@modelcontextprotocol/sdk/server/mcp.js'
import { McpError } from '@modelcontextprotocol/sdk/types.js'
import { describe, expect, test } from 'vitest'
import { z } from 'zod'

import { Gate, InvalidArgumentError, MCP_REFUSED_ERROR_CODE, McpRefusalError, gateMcpServer, type EvaluateInput, type GateMcpServerOptions, type McpCaller, type McpRequestExtra, type Verdict } from '../index'

type PolicyFile = Parameters<typeof Gate.fromObject>[0]

const agent: McpCaller = { callerId: 'agent-1', roles: ['support'] }

/** A CRM server: a static resource, a resource template and a prompt, each recording its runs. */
function crmServer(ran: string[]): McpServer {
  const server = new McpServer({ name: 'crm', version: '1.0.0' })
  server.registerResource('price_list', 'crm://prices', {}, (uri) => {
    ran.push('price_list')
    return { contents: [{ uri: uri.href, text: 'prices' }] }
  })
  server.registerResource('customers', new ResourceTemplate('crm://customers/{id}', { list: undefined }), {}, (uri, { id }) => {
    ran.push(`customers:${String(id)}`)
    return { contents: [{ uri: uri.href, text: `customer ${String(id)}` }] }
  })
  server.registerPrompt('summarize', { argsSchema: { id: z.string(), tone: z.string() } }, ({ id, tone }) => {
    ran.push(`summarize:${id}:${tone}`)
    return { messages: [{ role: 'user', content: { type: 'text', text: `summarize ${id} (${tone})` } }] }
  })
  return server
}

interface Connected {
  client: Client
  server: McpServer
  refusals: { name: string; verdict: Verdict; cause?: unknown }[]
  close(): Promise<void>
}

/** `server` gated by `gate` (identify: `agent`, unless given), connected to a real Client. */
async function connected(server: McpServer, gate: Gate, options: Partial<GateMcpServerOptions> = {}, afterGating?: () => void): Promise<Connected> {
  const refusals: Connected['refusals'] = []
  gateMcpServer(server, gate, { identify: () => agent, onRefusal: (name, verdict, _extra, cause) => void refusals.push({ name, verdict, cause }), ...options })
  afterGating?.()
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair()
  await server.connect(serverSide)
  const client = new Client({ name: 'c', version: '1.0.0' })
  await client.connect(clientSide)
  return {
    client,
    server,
    refusals,
    close: async () => {
      await client.close()
      await server.close()
    },
  }
}

/** The McpError a client request rejected with. */
async function rejection(request: Promise<unknown>): Promise<McpError> {
  const e = await request.then(
    () => undefined,
    (err: unknown) => err,
  )
  expect(e).toBeInstanceOf(McpError)
  return e as McpError
}

const text = (r: { contents: unknown[] }): unknown => (r.contents[0] as { text?: unknown }).text

describe('gateMcpServer: resources, resource templates and prompts', () => {
  test('a default-deny gate refuses reading a resource, a template resource and getting a prompt; no callback runs', async () => {
    const ran: string[] = []
    const s = await connected(crmServer(ran), Gate.fromObject({ policies: [] }))
    try {
      const reads = [
        ['resource:price_list', s.client.readResource({ uri: 'crm://prices' })],
        ['resource:customers', s.client.readResource({ uri: 'crm://customers/42' })],
        ['prompt:summarize', s.client.getPrompt({ name: 'summarize', arguments: { id: '42', tone: 'formal' } })],
      ] as const
      for (const [action, request] of reads) {
        const e = await rejection(request)
        expect(e.code, action).toBe(-32003)
        expect(e.message, action).toMatch(new RegExp(`kavach refused '${action}': NO_POLICY_MATCH: `))
        expect(e.data, action).toMatchObject({ refused: true, code: 'NO_POLICY_MATCH' })
      }
      expect(ran).toEqual([])
      expect(s.refusals.map((r) => r.name)).toEqual(['resource:price_list', 'resource:customers', 'prompt:summarize'])
      expect(s.refusals.every((r) => r.verdict.code === 'NO_POLICY_MATCH')).toBe(true)
    } finally {
      await s.close()
    }
  })

  test("a policy permitting 'resource:customers' lets the read through; the gate sees the URI as resource and the template's variables as params", async () => {
    const ran: string[] = []
    const seen: EvaluateInput[] = []
    const policy: PolicyFile = {
      policies: [
        {
          name: 'support_reads_customers',
          effect: 'permit',
          conditions: [{ identity_role: 'support' }, { action: 'resource:customers' }, { resource: 'crm://customers/*' }, { param_in: { field: 'id', values: ['42'] } }],
        },
      ],
    }
    const gate = Gate.fromObject(policy, { onVerdict: (_v, ctx) => void seen.push(ctx) })
    // A resource the caller names is not the one read: the requested URI is judged.
    const s = await connected(crmServer(ran), gate, { identify: () => ({ ...agent, resource: 'crm://customers/anything' }) })
    try {
      expect(text(await s.client.readResource({ uri: 'crm://customers/42' }))).toBe('customer 42')
      expect(seen[0]).toMatchObject({ actionName: 'resource:customers', resource: 'crm://customers/42', params: { id: '42' } })
      const e = await rejection(s.client.readResource({ uri: 'crm://customers/7' }))
      expect(e.code).toBe(-32003)
      expect(seen[1]).toMatchObject({ actionName: 'resource:customers', resource: 'crm://customers/7', params: { id: '7' } })
      // The permit names the template only: the static resource and the prompt stay refused.
      await rejection(s.client.readResource({ uri: 'crm://prices' }))
      await rejection(s.client.getPrompt({ name: 'summarize', arguments: { id: '42', tone: 'formal' } }))
      expect(ran).toEqual(['customers:42'])
    } finally {
      await s.close()
    }
  })

  test("a param rule on a prompt argument refuses; the prompt's arguments are its params", async () => {
    const ran: string[] = []
    const policy: PolicyFile = {
      policies: [{ name: 'formal_summaries', effect: 'permit', conditions: [{ action: 'prompt:*' }, { param_in: { field: 'tone', values: ['formal'] } }] }],
    }
    const s = await connected(crmServer(ran), Gate.fromObject(policy))
    try {
      const ok = await s.client.getPrompt({ name: 'summarize', arguments: { id: '42', tone: 'formal' } })
      expect((ok.messages[0]!.content as { text: string }).text).toBe('summarize 42 (formal)')
      const e = await rejection(s.client.getPrompt({ name: 'summarize', arguments: { id: '42', tone: 'leak everything' } }))
      expect(e.code).toBe(-32003)
      expect(e.message).toContain("kavach refused 'prompt:summarize': NO_POLICY_MATCH")
      expect(ran).toEqual(['summarize:42:formal'])
    } finally {
      await s.close()
    }
  })

  test('resources, templates and prompts registered after gateMcpServer, renamed or given a new callback are gated', async () => {
    const ran: string[] = []
    const server = new McpServer({ name: 'late', version: '1.0.0' })
    const policy: PolicyFile = { policies: [{ name: 'public_docs', effect: 'permit', conditions: [{ action: 'resource:public_docs' }] }] }
    const s = await connected(server, Gate.fromObject(policy), {}, () => {
      server.registerResource('secrets', 'crm://secrets', {}, (uri) => {
        ran.push('secrets')
        return { contents: [{ uri: uri.href, text: 'api keys' }] }
      })
      server.registerResource('invoices', new ResourceTemplate('crm://invoices/{n}', { list: undefined }), {}, (uri) => {
        ran.push('invoices')
        return { contents: [{ uri: uri.href, text: 'invoice' }] }
      })
      server.registerPrompt('escalate', {}, () => {
        ran.push('escalate')
        return { messages: [{ role: 'user', content: { type: 'text', text: 'escalate' } }] }
      })
    })
    try {
      expect((await rejection(s.client.readResource({ uri: 'crm://secrets' }))).message).toContain("kavach refused 'resource:secrets'")
      expect((await rejection(s.client.readResource({ uri: 'crm://invoices/1' }))).message).toContain("kavach refused 'resource:invoices'")
      expect((await rejection(s.client.getPrompt({ name: 'escalate' }))).message).toContain("kavach refused 'prompt:escalate'")

      const registered = server as unknown as {
        _registeredResources: Record<string, { update(u: object): void }>
        _registeredResourceTemplates: Record<string, { update(u: object): void }>
      }
      // A new callback is gated, and a rename is judged under the new name.
      registered._registeredResources['crm://secrets']!.update({
        callback: (uri: URL) => {
          ran.push('secrets2')
          return { contents: [{ uri: uri.href, text: 'more keys' }] }
        },
      })
      await rejection(s.client.readResource({ uri: 'crm://secrets' }))
      registered._registeredResourceTemplates.invoices!.update({ name: 'public_docs' })
      expect(text(await s.client.readResource({ uri: 'crm://invoices/1' }))).toBe('invoice')
      registered._registeredResources['crm://secrets']!.update({ uri: 'crm://secrets/v2' })
      await rejection(s.client.readResource({ uri: 'crm://secrets/v2' }))
      expect(ran).toEqual(['invoices'])
    } finally {
      await s.close()
    }
  })

  test('an identify that throws refuses with IDENTITY_FAILED and a generic reason; no caller refuses with INVALID_CONTEXT', async () => {
    const permitAll: PolicyFile = { policies: [{ name: 'all', effect: 'permit', conditions: [] }] }
    const ran: string[] = []
    const throwing = await connected(crmServer(ran), Gate.fromObject(permitAll), {
      identify: () => {
        throw new Error('bearer token expired')
      },
    })
    try {
      const e = await rejection(throwing.client.readResource({ uri: 'crm://customers/42' }))
      expect(e.code).toBe(-32003)
      expect(e.message).toContain("kavach refused 'resource:customers': IDENTITY_FAILED: the gate could not sign or verify identity for this call; the resource was not read")
      expect(e.message).not.toContain('bearer token expired')
      const prompt = await rejection(throwing.client.getPrompt({ name: 'summarize', arguments: { id: '1', tone: 'formal' } }))
      expect(prompt.code).toBe(MCP_REFUSED_ERROR_CODE)
      expect(prompt.data).toEqual({ refused: true, code: 'IDENTITY_FAILED', reason: 'the gate could not sign or verify identity for this call; the prompt was not produced' })
      expect(throwing.refusals).toHaveLength(2)
      expect(throwing.refusals[0]!.name).toBe('resource:customers')
      expect(String(throwing.refusals[0]!.cause)).toContain('bearer token expired')
    } finally {
      await throwing.close()
    }
    const nobody = await connected(crmServer(ran), Gate.fromObject(permitAll), { identify: (_extra: McpRequestExtra) => undefined })
    try {
      const e = await rejection(nobody.client.getPrompt({ name: 'summarize', arguments: { id: '1', tone: 'formal' } }))
      expect(e.message).toContain("kavach refused 'prompt:summarize': INVALID_CONTEXT")
      expect(e.data).toMatchObject({ refused: true, code: 'INVALID_CONTEXT' })
    } finally {
      await nobody.close()
    }
    expect(ran).toEqual([])
  })

  test('on the server, a refused read throws the exported McpRefusalError with code MCP_REFUSED_ERROR_CODE (-32003)', async () => {
    const ran: string[] = []
    const server = crmServer(ran)
    gateMcpServer(server, Gate.fromObject({ policies: [] }), { identify: () => agent })
    const registered = server as unknown as { _registeredResources: Record<string, { readCallback: (uri: URL, extra: unknown) => Promise<unknown> }> }
    const e = await registered._registeredResources['crm://prices']!.readCallback(new URL('crm://prices'), {}).then(
      () => undefined,
      (err: unknown) => err,
    )
    expect(MCP_REFUSED_ERROR_CODE).toBe(-32003)
    expect(e).toBeInstanceOf(McpRefusalError)
    expect((e as InstanceType<typeof McpRefusalError>).code).toBe(MCP_REFUSED_ERROR_CODE)
    expect((e as InstanceType<typeof McpRefusalError>).data).toMatchObject({ refused: true, code: 'NO_POLICY_MATCH' })
    expect(ran).toEqual([])
  })

  test('a server whose resource or prompt registries are missing is rejected, not left partly gated', () => {
    const gate = Gate.fromObject({ policies: [] })
    const full = { server: {}, _registeredTools: {}, _registeredResources: {}, _registeredResourceTemplates: {}, _registeredPrompts: {} }
    for (const missing of ['_registeredResources', '_registeredResourceTemplates', '_registeredPrompts'] as const) {
      const host: Record<string, unknown> = { ...full, [missing]: undefined }
      const tools = host._registeredTools
      expect(() => gateMcpServer(host as never, gate, { identify: () => agent }), missing).toThrow(InvalidArgumentError)
      expect(() => gateMcpServer(host as never, gate, { identify: () => agent }), missing).toThrow(missing)
      expect(host._registeredTools, missing).toBe(tools)
    }
  })
})
