// `kavach test POLICY… --cases FILE [--junit OUT]`: policy unit tests, the way `opa test` runs
// Rego tests. Every case gets a fresh gate (no state leaks between cases); a case's contexts
// run in order on that gate and the last verdict is compared with the expectation.

import { writeFileSync } from 'node:fs'
import { basename } from 'node:path'

import { excerpt, printable } from '../errors.js'
import { Gate } from '../gate.js'
import type { Verdict } from '../native.js'
import { type Case, readCases } from './cases.js'
import { EXIT_FINDINGS, EXIT_OK } from './exit.js'
import { checkOutputIsNoInput } from './input-files.js'
import { type CaseResult, junitXml } from './junit.js'
import { mergedPolicies } from './policy-files.js'
import { explainText } from './trace-text.js'

interface TestOptions {
  cases: string
  junit?: string
  json?: boolean
}

/** What differs between the expectation and the verdict, or undefined when it matches. */
function mismatch(c: Case, v: Verdict): string | undefined {
  const got = `${v.kind}${v.code === undefined ? '' : ` ${v.code}`}${v.evaluator === undefined ? '' : ` (${v.evaluator})`}`
  const want = `${c.expect}${c.code === undefined ? '' : ` ${c.code}`}${c.evaluator === undefined ? '' : ` (${c.evaluator})`}`
  const ok = v.kind === c.expect && (c.code === undefined || v.code === c.code) && (c.evaluator === undefined || v.evaluator === c.evaluator)
  return ok ? undefined : `expected ${want}, got ${got}${v.reason === undefined ? '' : `: ${v.reason}`}`
}

export async function run(policies: string[], opts: TestOptions): Promise<number> {
  checkOutputIsNoInput('--junit', opts.junit, [...policies.map((path) => ({ path, what: 'policy file' })), { path: opts.cases, what: 'cases file' }])
  const set = await mergedPolicies(policies)
  const { options, cases } = await readCases(opts.cases)
  const results: CaseResult[] = []
  for (const c of cases) {
    const started = performance.now()
    const gate = Gate.fromJsonString(set, c.nowMs === undefined ? options : { ...options, testClock: { nowMs: c.nowMs } })
    let failure: string | undefined
    try {
      const last = c.contexts[c.contexts.length - 1]!
      for (const ctx of c.contexts.slice(0, -1)) gate.evaluate(ctx)
      // The trace of the last context on the state the earlier ones left, taken before it
      // runs (explain changes no state, so the verdict below is the one it explains).
      const trace = gate.explain(last)
      const verdict: Verdict = gate.evaluate(last)
      failure = mismatch(c, verdict)
      if (failure !== undefined) failure += `\n${explainText(trace)}`
    } catch (e) {
      failure = `error: ${(e as Error).message}`
    } finally {
      await gate.close()
    }
    results.push({ name: c.name, passed: failure === undefined, failure, ms: performance.now() - started })
  }
  const failed = results.filter((r) => !r.passed)
  if (opts.junit !== undefined) writeFileSync(opts.junit, junitXml(`kavach ${basename(opts.cases)}`, results))
  if (opts.json === true) {
    process.stdout.write(`${JSON.stringify({ ok: failed.length === 0, passed: results.length - failed.length, failed: failed.length, cases: results }, null, 2)}\n`)
  } else {
    for (const r of results) {
      const name = excerpt(r.name)
      process.stdout.write(r.passed ? `PASS ${name}\n` : `FAIL ${name}\n${indent(r.failure ?? '')}\n`)
    }
    process.stdout.write(`\n${results.length - failed.length} passed, ${failed.length} failed\n`)
  }
  return failed.length === 0 ? EXIT_OK : EXIT_FINDINGS
}

/** `text` indented under its case, line by line, each line `printable`. */
function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => `     ${printable(l)}`)
    .join('\n')
}
