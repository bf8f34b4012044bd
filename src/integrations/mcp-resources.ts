// The resources, resource templates and prompts of an `McpServer` (@modelcontextprotocol/sdk
// 1.x), gated like its tools: every `resources/read` and `prompts/get` is judged before the
// SDK's callback runs. Their actions are `resource:<registered name>` and
// `prompt:<registered name>`, so a policy written for a tool never applies to them. A refusal is
// a JSON-RPC error the client reads: these requests have no `isError` result.
//
// The SDK keeps them in registries that are not public API, so this file checks their shape:
// `_registeredResources` (URI -> entry whose `readCallback(uri, extra)` it calls; the entry's
// `name` is its registered name), `_registeredResourceTemplates` (name -> entry,
// `readCallback(uri, variables, extra)`) and `_registeredPrompts` (name -> entry,
// `callback(args, extra)`, or `callback(extra)` without an `argsSchema`).

import { InvalidArgumentError } from '../errors.js'
import type { Verdict } from '../native.js'
import type { McpRequestExtra } from './mcp-server.js'
import { refusalOf, refusalText, type ToolRefusal } from './refusal.js'

/**
 * The JSON-RPC error code of a refused read or get: in the range JSON-RPC leaves to servers,
 * and used by neither the SDK (-32000 connection closed, -32001 request timeout, -32042) nor
 * the MCP specification (-32002 resource not found).
 */
export const MCP_REFUSED_ERROR_CODE = -32003

/** What a model is told did not happen, for a refused read (`resource:<name>`) or get (`prompt:<name>`). */
function notDoneFor(action: string): string {
  return action.startsWith('prompt:') ? 'the prompt was not produced' : 'the resource was not read'
}

/**
 * A refused `resources/read` or `prompts/get`. The SDK answers a request whose handler throws
 * with the error's numeric `code`, its `message` and its `data`, so the client's request
 * rejects with an `McpError` whose code is `MCP_REFUSED_ERROR_CODE`, whose message ends with
 * the refusal line (`refusalText`) and whose `data` is `{ refused, code, reason }`. A generic
 * reason says the resource was not read, or the prompt not produced.
 */
export class McpRefusalError extends Error {
  readonly code: number = MCP_REFUSED_ERROR_CODE
  readonly data: ToolRefusal

  constructor(action: string, v: Verdict) {
    super(refusalText(action, v, notDoneFor(action)))
    this.name = 'McpRefusalError'
    this.data = refusalOf(v, notDoneFor(action))
  }
}

/** Judges one read or get: the verdict for `action` with `params`, and the requested URI as the context's `resource`. */
export type DecideRead = (action: string, params: unknown, extra: McpRequestExtra, resource?: string) => Promise<Verdict>

type Entry = Record<string, unknown>
type Registry = Record<string, Entry>
type Callback = (...args: unknown[]) => unknown

/** What one read or get is judged as. */
interface Read {
  action: string
  params: unknown
  extra: McpRequestExtra
  resource?: string
}

/** One of the SDK's registries of what a client reads without a tool call. */
interface ReadRegistry {
  key: '_registeredResources' | '_registeredResourceTemplates' | '_registeredPrompts'
  /** What it holds, as an error message names it. */
  holds: string
  /** The entry's property holding the function the SDK calls. */
  callback: 'readCallback' | 'callback'
  /** The read, from the entry, the key it is registered under and the SDK's arguments. */
  read(entry: Entry, key: string, args: unknown[]): Read
}

const READ_REGISTRIES: readonly ReadRegistry[] = [
  {
    key: '_registeredResources',
    holds: 'resources',
    callback: 'readCallback',
    // Keyed by URI: the registered name is the entry's, which `update({ name })` sets in place.
    read: (entry, _uri, [uri, extra]) => ({ action: `resource:${String(entry.name)}`, params: undefined, extra: extra as McpRequestExtra, resource: String(uri) }),
  },
  {
    key: '_registeredResourceTemplates',
    holds: 'resource templates',
    callback: 'readCallback',
    read: (_entry, name, [uri, variables, extra]) => ({ action: `resource:${name}`, params: variables, extra: extra as McpRequestExtra, resource: String(uri) }),
  },
  {
    key: '_registeredPrompts',
    holds: 'prompts',
    callback: 'callback',
    // The SDK passes the parsed arguments only to a prompt with an argument schema.
    read: (entry, name, args) =>
      entry.argsSchema ? { action: `prompt:${name}`, params: args[0], extra: args[1] as McpRequestExtra } : { action: `prompt:${name}`, params: undefined, extra: args[0] as McpRequestExtra },
  },
]

/**
 * The server's resource, resource template and prompt registries, checked before anything is
 * gated. Throws `InvalidArgumentError` naming the first one missing.
 */
export function readRegistries(host: Record<string, unknown>): Registry[] {
  return READ_REGISTRIES.map(({ key, holds }) => {
    const registry = host[key]
    if (typeof registry !== 'object' || registry === null) {
      throw new InvalidArgumentError(`gateMcpServer needs an McpServer from @modelcontextprotocol/sdk 1.x (no registry of ${holds} found at ${key})`)
    }
    return registry as Registry
  })
}

/**
 * Gates every entry of the registries `readRegistries` returned, and every entry registered
 * (or renamed) later: each call of its callback is judged by `decide` first and throws
 * `McpRefusalError` unless permitted.
 */
export function gateReads(host: Record<string, unknown>, registries: Registry[], decide: DecideRead): void {
  READ_REGISTRIES.forEach((spec, i) => {
    const keys = new WeakMap<object, string>()
    const gateEntry = (entry: Entry, key: string): void => {
      const known = keys.has(entry)
      keys.set(entry, key)
      if (known) return
      let inner = entry[spec.callback]
      const gated = async function (this: unknown, ...args: unknown[]): Promise<unknown> {
        const read = spec.read(entry, keys.get(entry) ?? key, args)
        const v = await decide(read.action, read.params, read.extra, read.resource)
        if (!v.isPermit) throw new McpRefusalError(read.action, v)
        return await Reflect.apply(inner as Callback, this, args)
      }
      Object.defineProperty(entry, spec.callback, {
        configurable: true,
        enumerable: true,
        get: () => gated,
        // `update({ callback })` replaces the callback: the new one is gated too.
        set: (f: unknown) => {
          inner = f
        },
      })
    }
    const registry = registries[i]!
    for (const [key, entry] of Object.entries(registry)) {
      if (typeof entry === 'object' && entry !== null) gateEntry(entry, key)
    }
    host[spec.key] = new Proxy(registry, {
      set(target, key, value: unknown) {
        if (typeof key === 'string' && typeof value === 'object' && value !== null) gateEntry(value as Entry, key)
        return Reflect.set(target, key, value)
      },
    })
  })
}
