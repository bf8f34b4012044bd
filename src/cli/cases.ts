// The cases file of `kavach test` (TOML `[[case]]` tables or JSON `{ "cases": [...] }`): each
// case is a context, or a list of contexts run in order on one gate (rate limits, sessions),
// and the verdict expected for the last one. The file is strict: an unknown key (a misspelt
// `code` or `now`) is an error naming it, since ignoring it would run a different test than
// the one written, and pass.

import { excerpt, kindOf } from '../errors.js'
import { UsageError } from './exit.js'
import { ISO_DATE_TIME_HINT, parseIsoDateTime } from './iso-time.js'
import { readDocument } from './policy-files.js'
import type { EvaluateOptions } from '../native.js'
import type { GateOptions } from '../options.js'

export interface Case {
  name: string
  contexts: EvaluateOptions[]
  expect: 'permit' | 'refuse' | 'invalidate'
  code?: string
  evaluator?: string
  /** Evaluate at this time (unix ms); else the real clock. */
  nowMs?: number
}

export interface CasesFile {
  /** Gate options for every case (plain values only: no stores or signers). */
  options?: GateOptions
  cases: Case[]
}

const KINDS = new Set(['permit', 'refuse', 'invalidate'])
const FILE_KEYS = ['cases', 'case', 'options'] as const
const CASE_KEYS = ['name', 'context', 'contexts', 'expect', 'code', 'evaluator', 'now'] as const

/** Optimal string alignment distance: edits, a swap of two neighbours counting as one. */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)))
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1)
    }
  }
  return d[a.length]![b.length]!
}

/**
 * A key longer than this gets no suggestion: no known key is near it, and the distance costs
 * time and memory in proportion to the key's length.
 */
const MAX_SUGGESTED_KEY_CHARS = 64

/** The known key `key` is a misspelling of, if any. */
function nearKey(key: string, known: readonly string[]): string | undefined {
  if (key.length > MAX_SUGGESTED_KEY_CHARS) return undefined
  const k = key.toLowerCase()
  const prefix = known.find((c) => c === k || (k.length >= 3 && (c.startsWith(k) || k.startsWith(c))))
  if (prefix !== undefined) return prefix
  // Lengths that differ by more than 2 are more than 2 edits apart: no distance to compute.
  return known.find((c) => Math.abs(c.length - k.length) <= 2 && distance(c, k) <= (c.length <= 4 ? 1 : 2))
}

/** `unknown key 'cdoe' (expected one of …); did you mean 'code'?` */
function unknownKey(key: string, known: readonly string[]): string {
  const near = nearKey(key, known)
  const hint = near === undefined ? '' : `; did you mean '${near}'?`
  return `unknown key '${excerpt(key)}' (expected one of ${known.join(', ')})${hint}`
}

function firstUnknown(o: object, known: readonly string[]): string | undefined {
  return Object.keys(o).find((k) => !known.includes(k))
}

/** A case's `now`: an ISO 8601 date-time string, or a TOML date-time (local: UTC, as a string). */
function nowOf(v: unknown): number | undefined {
  if (typeof v === 'string') return parseIsoDateTime(v)
  // smol-toml's TomlDate: a local date-time is read as UTC; a date or a time alone is no instant.
  if (v instanceof Date) return (v as Date & { isDateTime?: () => boolean }).isDateTime?.() === false ? undefined : v.getTime()
  return undefined
}

/** A `now` that is not an instant, as an error quotes it: its text, or the kind of value it is. */
function nowShown(v: unknown): string {
  if (v instanceof Date) return v.toISOString()
  return typeof v === 'string' ? excerpt(v) : `got ${kindOf(v)}`
}

export async function readCases(file: string): Promise<CasesFile> {
  let doc: Record<string, unknown>
  try {
    doc = await readDocument(file)
  } catch (e) {
    throw new UsageError(`cases file '${file}': ${(e as Error).message}`)
  }
  const fileBad = (why: string): never => {
    throw new UsageError(`cases file '${file}': ${why}`)
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) fileBad('expected [[case]] tables or a "cases" array')
  const unknownTop = firstUnknown(doc, FILE_KEYS)
  if (unknownTop !== undefined) fileBad(unknownKey(unknownTop, FILE_KEYS))
  if (doc.cases !== undefined && doc.case !== undefined) fileBad("both 'cases' and 'case': give one list")
  const list = doc.cases ?? doc.case
  if (!Array.isArray(list) || list.length === 0) fileBad('no cases (expected [[case]] tables or a "cases" array)')
  const cases = (list as unknown[]).map((raw: unknown, i): Case => {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fileBad(`case #${i}: must be a table (an object)`)
    const c = raw as Record<string, unknown>
    const label = typeof c.name === 'string' && c.name !== '' ? `case '${excerpt(c.name)}'` : `case #${i}`
    const bad = (why: string): never => fileBad(`${label}: ${why}`)
    const unknown = firstUnknown(c, CASE_KEYS)
    if (unknown !== undefined) bad(unknownKey(unknown, CASE_KEYS))
    if (typeof c.name !== 'string' || c.name === '') bad("missing 'name'")
    if (typeof c.expect !== 'string' || !KINDS.has(c.expect)) bad("'expect' must be 'permit', 'refuse' or 'invalidate'")
    if (c.context !== undefined && c.contexts !== undefined) bad("both 'context' and 'contexts': give 'context' (one table) or 'contexts' (a list), not both")
    const contexts = c.contexts ?? (c.context === undefined ? undefined : [c.context])
    if (!Array.isArray(contexts) || contexts.length === 0 || contexts.some((x) => typeof x !== 'object' || x === null)) bad("needs 'context' (a table) or 'contexts' (a non-empty list of tables)")
    let nowMs: number | undefined
    if (c.now !== undefined) {
      nowMs = nowOf(c.now)
      if (nowMs === undefined) bad(`'now' is not ${ISO_DATE_TIME_HINT}: ${nowShown(c.now)}`)
    }
    for (const key of ['code', 'evaluator'] as const) if (c[key] !== undefined && typeof c[key] !== 'string') bad(`'${key}' must be a string`)
    return {
      name: c.name as string,
      contexts: contexts as EvaluateOptions[],
      expect: c.expect as Case['expect'],
      code: c.code as string | undefined,
      evaluator: c.evaluator as string | undefined,
      nowMs,
    }
  })
  return { options: doc.options as GateOptions | undefined, cases }
}
