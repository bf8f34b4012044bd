// Reading policy files for the CLI: the native loader decides what is valid (the same one
// `Gate.fromFile` uses); this file only finds where in the text an error points, and merges
// several files into one set for commands that take more than one.

import { readFileSync } from 'node:fs'
import { extname } from 'node:path'

import { Gate } from '../gate.js'
import type { GateOptions, PolicySetInput } from '../options.js'

export type PolicyFormat = 'toml' | 'json'

export function formatOf(path: string): PolicyFormat {
  return extname(path).toLowerCase() === '.json' ? 'json' : 'toml'
}

/** One problem in one file, with its position in the text when it can be found. */
export interface FileError {
  file: string
  code: string
  message: string
  /** The policy the error names, if any. */
  policy?: string
  /** The key (or condition) the error names, if any. */
  key?: string
  line?: number
  column?: number
}

/** Loads the file through the native loader: a gate, or the error located in the text. */
export function loadPolicyFile(file: string, options?: GateOptions): { gate: Gate } | { error: FileError } {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (e) {
    return { error: { file, code: 'IO', message: `cannot read '${file}': ${(e as Error).message}` } }
  }
  try {
    const gate = formatOf(file) === 'json' ? Gate.fromJsonString(text, options) : Gate.fromToml(text, options)
    return { gate }
  } catch (e) {
    const code = String((e as { code?: unknown }).code ?? 'INTERNAL')
    return { error: { file, code, ...locate(text, (e as Error).message) } }
  }
}

/** The first error of a loader message, and where it is in `text`. */
export function locate(text: string, message: string): Omit<FileError, 'file' | 'code'> {
  const out: Omit<FileError, 'file' | 'code'> = { message }
  // Syntax errors carry their own position (the toml and JSON parsers report it).
  const at = /line (\d+),? column (\d+)/.exec(message)
  if (at !== null) {
    out.line = Number(at[1])
    out.column = Number(at[2])
    out.message = message.split('\n')[0]!.replace(/\s*$/, '')
    return out
  }
  const policy = /policy '([^']*)'/.exec(message)?.[1]
  const key = /(?:key|condition) '([^']*)'(?!.*(?:key|condition) ')/.exec(message)?.[1]
  if (policy !== undefined) out.policy = policy
  if (key !== undefined) out.key = key
  if (policy === undefined) return out
  const lines = text.split('\n')
  const quoted = new RegExp(`["']?name["']?\\s*[:=]\\s*["']${escapeRegExp(policy)}["']`)
  const nameLine = lines.findIndex((l) => quoted.test(l))
  if (nameLine < 0) return out
  let line = nameLine
  if (key !== undefined) {
    // The policy's block: from the table header (or object start) before its name to the next one.
    const isStart = (l: string): boolean => /^\s*\[\[polic(y|ies)\]\]/.test(l) || /^\s*\{\s*$/.test(l)
    let start = nameLine
    while (start > 0 && !isStart(lines[start]!)) start--
    let end = nameLine + 1
    while (end < lines.length && !isStart(lines[end]!)) end++
    const leaf = key.split('.').pop()!
    const hit = lines.slice(start, end).findIndex((l) => l.includes(leaf))
    if (hit >= 0) line = start + hit
  }
  out.line = line + 1
  out.column = 1 + Math.max(0, lines[line]!.search(/\S/))
  return out
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

/** `file:line:col: message` for humans. */
export function describe(e: FileError): string {
  const where = e.line === undefined ? e.file : `${e.file}:${e.line}:${e.column ?? 1}`
  return `${where}: ${e.message} [${e.code}]`
}

/** The file as a plain object (the shape `Gate.fromObject` takes). */
export async function readDocument(file: string): Promise<Record<string, unknown>> {
  const text = readFileSync(file, 'utf8')
  if (formatOf(file) === 'json') return JSON.parse(text) as Record<string, unknown>
  const { parse } = await import('smol-toml')
  return parse(text) as Record<string, unknown>
}

/**
 * Several files as one policy set, in file order. Each file must load on its own first (the
 * native loader's error, located, is thrown otherwise).
 */
export async function mergedPolicies(files: string[]): Promise<PolicySetInput> {
  const policies: unknown[] = []
  for (const file of files) {
    const loaded = loadPolicyFile(file)
    if ('error' in loaded) throw Object.assign(new Error(describe(loaded.error)), { code: loaded.error.code })
    void loaded.gate.close()
    const doc = await readDocument(file)
    const list = (doc.policies ?? doc.policy ?? []) as unknown[]
    policies.push(...list)
  }
  return { policies } as PolicySetInput
}
