// `kavach audit report CHAIN.jsonl --out report.html [--bundle B.json]`: one self-contained
// HTML file (report-html.ts). With a bundle the chain is verified first and the report shows
// the result; a bad chain still gets its report (exit 1), so the operator can look at it.

import { writeFileSync } from 'node:fs'

import { PublicKeyBundle } from '../pq.js'
import { readEntries } from './audit-entries.js'
import { type ChainStatus, verifyChain } from './audit-verify.js'
import { EXIT_FINDINGS, EXIT_OK } from './exit.js'
import { readChain, readInput } from './input-files.js'
import { reportHtml, unreadableText } from './report-html.js'

interface ReportOptions {
  out: string
  bundle?: string
  /** With `bundle`: the chain was written PQ-only (the default requires hybrid entries). */
  pqOnly?: boolean
  json?: boolean
}

export async function run(chain: string, opts: ReportOptions): Promise<number> {
  const blob = readChain(chain)
  const status: ChainStatus | undefined = opts.bundle === undefined ? undefined : verifyChain(blob, PublicKeyBundle.fromJSON(readInput(opts.bundle, 'bundle')), undefined, opts.pqOnly === true)
  const { entries, unreadable } = readEntries(blob)
  writeFileSync(opts.out, await reportHtml({ chain, status, entries, unreadable }))
  const summary = { ok: status === undefined || status.ok, out: opts.out, entries: entries.length, unreadable, verified: status?.ok ?? null, error: status?.error }
  const notRead = unreadable === 0 ? '' : `, ${unreadableText(unreadable)}`
  process.stdout.write(opts.json === true ? `${JSON.stringify(summary, null, 2)}\n` : `report ${opts.out}: ${entries.length} entries${notRead}${status === undefined ? ' (not verified)' : status.ok ? ' (chain verified)' : ` (chain INVALID: ${status.error})`}\n`)
  return status === undefined || status.ok ? EXIT_OK : EXIT_FINDINGS
}
