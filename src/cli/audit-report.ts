// `kavach audit report CHAIN.jsonl --out report.html [--bundle B.json]`: one self-contained
// HTML file (report-html.ts). With a bundle the chain is verified first and the report shows
// the result; a bad chain still gets its report (exit 1), so the operator can look at it.
// Without a bundle the chain is read in chunks; the page's counts cover every entry and its
// table the latest EMBEDDED_ENTRIES (audit-entries.ts).

import { writeFileSync } from 'node:fs'

import { PublicKeyBundle } from '../pq.js'
import { type ReadEntries, readEntries } from './audit-entries.js'
import { type ChainStatus, verifyChain } from './audit-verify.js'
import { EXIT_FINDINGS, EXIT_OK } from './exit.js'
import { chainChunks, checkOutputIsNoInput, readChain, readInput } from './input-files.js'
import { notShownText, reportHtml, unreadableText } from './report-html.js'

interface ReportOptions {
  out: string
  bundle?: string
  /** With `bundle`: the chain was written PQ-only (the default requires hybrid entries). */
  pqOnly?: boolean
  json?: boolean
}

export async function run(chain: string, opts: ReportOptions): Promise<number> {
  checkOutputIsNoInput('--out', opts.out, [{ path: chain, what: 'audit chain' }, ...(opts.bundle === undefined ? [] : [{ path: opts.bundle, what: 'bundle' }])])
  let status: ChainStatus | undefined
  let read: ReadEntries
  if (opts.bundle === undefined) {
    read = readEntries(chainChunks(chain))
  } else {
    // The native verifier takes the chain whole.
    const blob = readChain(chain)
    status = verifyChain(blob, PublicKeyBundle.fromJSON(readInput(opts.bundle, 'bundle')), undefined, opts.pqOnly === true)
    read = readEntries(blob)
  }
  const { total, unreadable } = read
  writeFileSync(opts.out, await reportHtml({ chain, status, read }))
  const summary = { ok: status === undefined || status.ok, out: opts.out, entries: total, shown: read.entries.length, unreadable, verified: status?.ok ?? null, error: status?.error }
  const notRead = unreadable === 0 ? '' : `, ${unreadableText(unreadable)}`
  const notShown = read.entries.length === total ? '' : `, ${notShownText(total, read.entries.length)}`
  process.stdout.write(opts.json === true ? `${JSON.stringify(summary, null, 2)}\n` : `report ${opts.out}: ${total} entries${notRead}${notShown}${status === undefined ? ' (not verified)' : status.ok ? ' (chain verified)' : ` (chain INVALID: ${status.error})`}\n`)
  return status === undefined || status.ok ? EXIT_OK : EXIT_FINDINGS
}
