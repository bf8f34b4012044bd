// gateMcpServer(): every tool, resource, resource template and prompt of an `McpServer`
// (@modelcontextprotocol/sdk 1.x), registered before or after the call, goes through the gate.
// A refused tool call is a tool result with `isError` (the agent loop reads it and goes on), not
// a protocol error; a refused resource read or prompt get, which has no such result, is a
// JSON-RPC error (mcp-resources.ts).
//
// The SDK keeps its tools in `McpServer._registeredTools` (name -> RegisteredTool, whose
// `handler` it calls for each `tools/call`). That map is not public API, so this file depends
// on its shape and checks it: a server without it is rejected rather than left ungated.

import { InvalidArgumentError, InvalidOptionsError, KavachError } from '../errors.js'
import type { Gate } from '../gate.js'
import type { Verdict } from '../native.js'
import { type FieldChecks, checkedFields, ignored } from '../options.js'
import { MIDDLEWARE_OPTION_CHECKS, type McpCaller, McpKavachMiddleware, type McpMiddlewareOptions } from './mcp.js'
import { refusalText } from './refusal.js'
import { identityProblem } from './identified.js'
import { refuseUnevaluated } from './unevaluated.js'
import { gateReads, readRegistries } from './mcp-resources.js'

/** The SDK's `RegisteredTool`, as far as gating needs it. */
interface RegisteredToolShape {
  handler: unknown
  inputSchema?: unknown
}

/** An `McpServer` from @modelcontextprotocol/sdk 1.x. */
export interface GateableMcpServer {
  readonly server: unknown
}

/**
 * The request extra the SDK hands a tool handler: `authInfo` (set by an authenticating HTTP
 * transport after it verified the bearer token), the transport's `sessionId`, the request's
 * `_meta` (sent by the client: not verified), and more.
 */
export type McpRequestExtra = Record<string, unknown> & {
  authInfo?: { token: string; clientId: string; scopes: string[]; expiresAt?: number; extra?: Record<string, unknown> }
  sessionId?: string
  _meta?: Record<string, unknown>
}

export interface GateMcpServerOptions extends McpMiddlewareOptions {
  /**
   * Who is calling, from the request extra (verified auth info, the transport's session id).
   * Nothing returned refuses the call (`INVALID_CONTEXT`). A throw, a rejection, or anything but
   * a caller (`null`, a string, a caller without a `callerId`, an unknown `callerKind`, a field
   * the gate cannot take) refuses it with `IDENTITY_FAILED`; the model reads a generic reason,
   * `onRefusal` the full one and what was thrown.
   */
  identify: (extra: McpRequestExtra) => McpCaller | undefined | Promise<McpCaller | undefined>
  /**
   * Called with every refused call's full verdict, for the server's own logs: `name` is the
   * action refused (the tool's name, `resource:<name>` for a resource read, `prompt:<name>` for
   * a prompt get). The client reads a generic reason for every code that is not a policy
   * outcome (`STORE_UNAVAILABLE`, `AUDIT_FAILED`, `IDENTITY_FAILED`: permit signing); the detail
   * (hosts, driver errors, key ids) is only here, and `cause` is what `identify` threw, when it
   * did. What it throws or rejects with is ignored: the call stays refused.
   */
  onRefusal?: (name: string, verdict: Verdict, extra: McpRequestExtra, cause?: unknown) => void | Promise<void>
}

/** An MCP tool result the model reads: `isError` with the refusal's code and reason. */
export interface McpRefusalResult {
  [key: string]: unknown
  content: { type: 'text'; text: string }[]
  isError: true
}

type ToolFn = (...args: unknown[]) => unknown

/** The tool result a model reads for a refused call: the refusal line (`refusalText`), `isError`. */
function refusalResult(toolName: string, v: Verdict): McpRefusalResult {
  return { content: [{ type: 'text', text: refusalText(toolName, v) }], isError: true }
}

/** Why `who` (what `identify` returned) is not a caller, or undefined when it is one. */
function callerProblem(who: unknown): string | undefined {
  return identityProblem(who, { noun: 'caller', idField: 'callerId', kindField: 'callerKind', expected: 'a caller object { callerId, ... }, or undefined for none' })
}

/**
 * `caller` reading `uri`: the requested URI is the context's `resource`, whatever resource the
 * caller names. Its other fields are read through the prototype, by name, as for a tool call.
 */
function readingResource(caller: object, uri: string): McpCaller {
  return Object.create(caller, { resource: { value: uri, enumerable: true } }) as McpCaller
}

/** An error the gate throws for a caller field it cannot take: an argument or a context it rejects (a malformed geo). */
function callerRejected(e: unknown): e is KavachError {
  return e instanceof KavachError && (e.code === 'INVALID_ARGUMENT' || e.code === 'INVALID_CONTEXT')
}

/**
 * Read through the options' prototypes too (`inherited`), every name alike: an `identify`
 * method of a class instance, or a shared store in `Object.create(defaults)`, is used.
 */
const SERVER_OPTIONS: FieldChecks<GateMcpServerOptions> = {
  what: 'gateMcpServer options',
  noun: 'option',
  inherited: true,
  // Checked by `gateMcpServer` itself, which names what each is called with.
  checks: { ...MIDDLEWARE_OPTION_CHECKS, identify: ignored, onRefusal: ignored },
  error: InvalidOptionsError,
}

/**
 * Gates every tool, resource, resource template and prompt of `server`; returns the middleware
 * that evaluates the calls (for `invalidateSession`). Throws `InvalidArgumentError` for a server
 * it cannot gate.
 */
export function gateMcpServer(server: GateableMcpServer, gate: Gate, options: GateMcpServerOptions): McpKavachMiddleware {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('gateMcpServer needs options.identify(extra)')
  const { identify, onRefusal, sessionStore, broadcaster } = checkedFields(SERVER_OPTIONS, options)
  if (typeof identify !== 'function') throw new InvalidArgumentError('gateMcpServer needs options.identify(extra)')
  if (onRefusal !== undefined && typeof onRefusal !== 'function') {
    throw new InvalidArgumentError('gateMcpServer: options.onRefusal must be a function (name, verdict, extra)')
  }
  const host = server as unknown as Record<string, unknown> & { _registeredTools?: unknown }
  const registry = host._registeredTools
  if (typeof registry !== 'object' || registry === null) {
    throw new InvalidArgumentError('gateMcpServer needs an McpServer from @modelcontextprotocol/sdk 1.x (no tool registry found)')
  }
  const reads = readRegistries(host)
  // The middleware gets its own options only: it would refuse `identify` as unknown.
  const mw = new McpKavachMiddleware(gate, { sessionStore, broadcaster })
  const names = new WeakMap<object, string>()

  /**
   * The verdict for one call of the action `name` (a tool's name, `resource:<name>`,
   * `prompt:<name>`) with `args`, reading `resource` when given, and what `identify` threw when
   * it did.
   */
  const judge = async (name: string, args: unknown, extra: McpRequestExtra, resource?: string): Promise<{ v: Verdict; cause?: unknown }> => {
    const facts = resource === undefined ? { actionName: name } : { actionName: name, resource }
    const identityFailed = (reason: string): Verdict => refuseUnevaluated(gate, 'IDENTITY_FAILED', 'mcp', reason, facts)
    let caller: unknown
    try {
      // A method call on the options given, as `options.identify(extra)` would be.
      caller = await identify.call(options, extra)
    } catch (e) {
      return { v: identityFailed(`identify() threw for '${name}'`), cause: e }
    }
    if (caller === undefined) {
      return { v: refuseUnevaluated(gate, 'INVALID_CONTEXT', 'mcp', `no caller for '${name}': identify() returned nothing`, facts) }
    }
    const problem = callerProblem(caller)
    if (problem !== undefined) return { v: identityFailed(problem) }
    try {
      const who = resource === undefined ? (caller as McpCaller) : readingResource(caller as object, resource)
      return { v: await mw.evaluateToolCall(name, args, who) }
    } catch (e) {
      // A caller field the gate cannot take (a malformed geo, say): the caller is not one.
      if (callerRejected(e)) return { v: identityFailed(`identify() returned a caller the gate cannot take: ${e.message}`), cause: e }
      throw e
    }
  }

  /** The verdict for one call of the action `name` (as `judge`); a refusal is reported to `onRefusal`. */
  const decide = async (name: string, args: unknown, extra: McpRequestExtra, resource?: string): Promise<Verdict> => {
    const { v, cause } = await judge(name, args, extra, resource)
    if (!v.isPermit && onRefusal !== undefined) {
      // A logging hook cannot change the outcome: the call is refused either way, and an
      // async hook's rejection is not left unhandled.
      try {
        const r = onRefusal.call(options, name, v, extra, cause) as unknown
        if (typeof (r as Promise<unknown> | undefined)?.then === 'function') (r as Promise<unknown>).then(undefined, () => undefined)
      } catch {
        // ignored, as above
      }
    }
    return v
  }

  const gateTool = (tool: RegisteredToolShape, name: string): void => {
    const known = names.has(tool)
    names.set(tool, name)
    if (known) return
    let inner = tool.handler
    const call: ToolFn = async (...a) => {
      // The SDK calls handler(args, extra), or handler(extra) for a tool without input schema.
      const hasInput = Boolean(tool.inputSchema)
      const extra = (hasInput ? a[1] : a[0]) as McpRequestExtra
      const toolName = names.get(tool) ?? name
      const v = await decide(toolName, hasInput ? a[0] : undefined, extra)
      if (!v.isPermit) return refusalResult(toolName, v)
      return await (inner as ToolFn)(...a)
    }
    Object.defineProperty(tool, 'handler', {
      configurable: true,
      enumerable: true,
      get: () => {
        // A task tool (experimental SDK API) is an object; its task starts only on Permit, and
        // a refusal becomes the SDK's own tool error result.
        if (typeof inner === 'object' && inner !== null && 'createTask' in inner) {
          const h = inner as Record<string, unknown> & { createTask: ToolFn }
          return {
            ...h,
            createTask: async (...a: unknown[]) => {
              const hasInput = Boolean(tool.inputSchema)
              const toolName = names.get(tool) ?? name
              const v = await decide(toolName, hasInput ? a[0] : undefined, (hasInput ? a[1] : a[0]) as McpRequestExtra)
              if (!v.isPermit) throw new Error(refusalText(toolName, v))
              return await h.createTask(...a)
            },
          }
        }
        return call
      },
      // `RegisteredTool.update({ callback })` replaces the handler: the new one is gated too.
      set: (h: unknown) => {
        inner = h
      },
    })
  }

  gateReads(host, reads, decide)
  const tools = registry as Record<string, RegisteredToolShape>
  for (const [name, tool] of Object.entries(tools)) gateTool(tool, name)
  // Tools registered (or renamed) later land in the registry through this proxy.
  host._registeredTools = new Proxy(tools, {
    set(target, key, value: unknown) {
      if (typeof key === 'string' && typeof value === 'object' && value !== null) gateTool(value as RegisteredToolShape, key)
      return Reflect.set(target, key, value)
    },
  })
  return mw
}
