// The cases file of `kavach test` (TOML `[[case]]` tables or JSON `{ "cases": [...] }`): each
// case is a context, or a list of contexts run in order on one gate (rate limits, sessions),
// and the verdict expected for the last one.

import { UsageError } from './exit.js'
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

export async function readCases(file: string): Promise<CasesFile> {
  let doc: Record<string, unknown>
  try {
    doc = await readDocument(file)
  } catch (e) {
    throw new UsageError(`cases file '${file}': ${(e as Error).message}`)
  }
  const list = doc.cases ?? doc.case
  if (!Array.isArray(list) || list.length === 0) throw new UsageError(`cases file '${file}': no cases (expected [[case]] tables or a "cases" array)`)
  const cases = list.map((raw: unknown, i): Case => {
    const c = raw as Record<string, unknown>
    const label = typeof c.name === 'string' && c.name !== '' ? `case '${c.name}'` : `case #${i}`
    const bad = (why: string): never => {
      throw new UsageError(`cases file '${file}': ${label}: ${why}`)
    }
    if (typeof c.name !== 'string' || c.name === '') bad("missing 'name'")
    if (typeof c.expect !== 'string' || !KINDS.has(c.expect)) bad("'expect' must be 'permit', 'refuse' or 'invalidate'")
    const contexts = c.contexts ?? (c.context === undefined ? undefined : [c.context])
    if (!Array.isArray(contexts) || contexts.length === 0 || contexts.some((x) => typeof x !== 'object' || x === null)) bad("needs 'context' (a table) or 'contexts' (a non-empty list of tables)")
    let nowMs: number | undefined
    if (c.now !== undefined) {
      nowMs = c.now instanceof Date ? c.now.getTime() : Date.parse(String(c.now))
      if (!Number.isFinite(nowMs)) bad(`'now' is not a date: ${String(c.now)}`)
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
