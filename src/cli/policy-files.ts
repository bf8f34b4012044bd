// Reading policy files for the CLI: a file is read exactly as the runtime reads it
// (`readPolicyFile`, the reader of `Gate.fromFile` and `gate.watch`: regular files only, strict
// UTF-8) and the native loader decides what is valid. This file only finds where in the text an
// error points, and, for the commands that need the document itself (convert, and the ones
// that merge several files), re-reads an accepted file as a plain object without changing any
// value the runtime reads.

import { randomUUID } from 'node:crypto'
import { extname } from 'node:path'

import { Gate } from '../gate.js'
import type { GateOptions } from '../options.js'
import { readPolicyFile } from '../policy-file.js'

export type PolicyFormat = 'toml' | 'json'

/** The format `Gate.fromFile` reads a path as: `.json` is JSON, anything else TOML. */
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

/** A command's failure with a stable code, reported by `runCommand` as `kavach [CODE]: message`. */
function failure(code: string, message: string): Error {
  return Object.assign(new Error(message), { code })
}

/** The error code of something thrown (a KavachError's `code`), or `fallback`. */
function codeOf(e: unknown, fallback: string): string {
  const code = (e as { code?: unknown } | null)?.code
  return typeof code === 'string' ? code : fallback
}

/**
 * Loads the file as `Gate.fromFile` does (the same reader, the same format choice, the same
 * native loader): a gate and the file's text, or the error located in the text.
 */
export function loadPolicyFile(file: string, options?: GateOptions): { gate: Gate; text: string } | { error: FileError } {
  let text: string
  try {
    text = readPolicyFile('kavach', file)
  } catch (e) {
    return { error: { file, code: codeOf(e, 'IO'), message: (e as Error).message } }
  }
  try {
    const gate = formatOf(file) === 'json' ? Gate.fromJsonString(text, options) : Gate.fromToml(text, options)
    return { gate, text }
  } catch (e) {
    return { error: { file, code: codeOf(e, 'INTERNAL'), ...locate(text, (e as Error).message) } }
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

/** The native loader drops a leading byte-order mark; the second parsers must too. */
function withoutBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text
}

/**
 * `JSON.parse`, except that an integer beyond `Number.MAX_SAFE_INTEGER` becomes a bigint instead
 * of a rounded number (the native loader reads such a priority exactly). `text` is JSON the
 * native loader accepted, so its tokens are well formed.
 */
function parseJsonExact(text: string): unknown {
  const marker = `kavach-int-${randomUUID()}:`
  const exact: string[] = []
  let out = ''
  let last = 0
  for (const m of text.matchAll(/"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/g)) {
    const token = m[0]
    if (token.startsWith('"') || !/^-?\d+$/.test(token) || Number.isSafeInteger(Number(token))) continue
    out += `${text.slice(last, m.index)}"${marker}${exact.length}"`
    exact.push(token)
    last = m.index + token.length
  }
  if (exact.length === 0) return JSON.parse(text)
  return JSON.parse(out + text.slice(last), (_key, v: unknown) =>
    typeof v === 'string' && v.startsWith(marker) ? BigInt(exact[Number(v.slice(marker.length))]!) : v,
  )
}

/** JSON text of `value`, with bigints written as the integers they are. */
export function toJsonText(value: unknown, indent?: number): string {
  const marker = `kavach-int-${randomUUID()}:`
  const text = JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? `${marker}${v}` : v), indent)
  return text.replace(new RegExp(`"${marker}(-?\\d+)"`, 'g'), '$1')
}

/**
 * The document of a policy file the native loader accepted, as a plain object, for commands
 * that rewrite or merge it: the BOM the loader drops is dropped, and integers beyond 2^53 are
 * bigints, so no value changes on the way. A document this parser cannot read names the file.
 */
export async function policyDocument(file: string, text: string): Promise<Record<string, unknown>> {
  const body = withoutBom(text)
  try {
    if (formatOf(file) === 'json') return parseJsonExact(body) as Record<string, unknown>
    const { parse } = await import('smol-toml')
    return parse(body, { integersAsBigInt: 'asNeeded' }) as Record<string, unknown>
  } catch (e) {
    throw failure('INTERNAL', `${file}: the file loads, but the CLI cannot re-read it to convert or merge it: ${(e as Error).message}`)
  }
}

/** The policies of a document (`policies`, or TOML's `[[policy]]` tables). */
export function policiesOf(doc: Record<string, unknown>): unknown[] {
  const list = doc.policies ?? doc.policy ?? []
  return Array.isArray(list) ? list : []
}

/**
 * A cases file (`kavach test --cases`) as a plain object, read with the policy files' reader
 * (regular files only, strict UTF-8) and without its byte-order mark.
 */
export async function readDocument(file: string): Promise<Record<string, unknown>> {
  let text: string
  try {
    text = withoutBom(readPolicyFile('kavach', file))
  } catch (e) {
    // The reader speaks of a policy file; the caller names this one (a cases file).
    throw failure(codeOf(e, 'IO'), (e as Error).message.replace(`policy file '${file}'`, 'the file'))
  }
  if (formatOf(file) === 'json') return JSON.parse(text) as Record<string, unknown>
  const { parse } = await import('smol-toml')
  return parse(text) as Record<string, unknown>
}

/**
 * Several files as one policy set (JSON text for `Gate.fromJsonString`), in file order. Every
 * file must load on its own first: the errors of all the files that do not are thrown
 * together, each located in its file. A set that does not load as a whole (a policy name used
 * in two files) names the files its policies come from.
 */
export async function mergedPolicies(files: string[]): Promise<string> {
  const errors: FileError[] = []
  const loaded: Array<{ file: string; text: string }> = []
  for (const file of files) {
    const r = loadPolicyFile(file)
    if ('error' in r) {
      errors.push(r.error)
      continue
    }
    await r.gate.close()
    loaded.push({ file, text: r.text })
  }
  if (errors.length > 0) throw failure(errors[0]!.code, errors.map(describe).join('\n'))

  const policies: unknown[] = []
  /** The file and its own index of each policy of the merged set. */
  const origin: Array<{ file: string; index: number }> = []
  for (const { file, text } of loaded) {
    const list = policiesOf(await policyDocument(file, text))
    list.forEach((p, index) => {
      policies.push(p)
      origin.push({ file, index })
    })
  }
  const merged = toJsonText({ policies })
  try {
    await Gate.fromJsonString(merged).close()
  } catch (e) {
    const message = (e as Error).message
    // The loader numbers the policies of the merged set (`policies #0 and #3`): say where each is.
    const where = [...new Set([...message.matchAll(/#(\d+)/g)].map((m) => Number(m[1])))]
      .filter((i) => origin[i] !== undefined)
      .map((i) => `#${i} is policy #${origin[i]!.index} of ${origin[i]!.file}`)
    throw failure(codeOf(e, 'INTERNAL'), `${files.join(', ')}: do not load as one policy set: ${message}${where.length > 0 ? ` (${where.join('; ')})` : ''}`)
  }
  return merged
}
