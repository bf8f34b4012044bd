// What `kavach audit report` reads from a chain: every line is an entry it shows or one it
// counts as unreadable (never dropped silently), and a chain of any length fits the chart's
// time span (no spread of all its times into one call).
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

import { beforeAll, describe, expect, test } from 'vitest'

import { AuditEntry, KavachKeyPair, SignedAuditChain } from '../index'
import { readEntries } from '../src/cli/audit-entries'
import { timeSpan } from '../src/cli/report-html'
import { ensureBuilt, kavach, tempDir } from './fixtures/cli'

beforeAll(ensureBuilt, 120_000)

/** A chain of `n` entries as JSONL lines. */
function chainLines(n: number): string[] {
  const chain = new SignedAuditChain(KavachKeyPair.generate())
  for (let i = 0; i < n; i++) chain.append(AuditEntry.new('agent-7', 'issue_refund', i % 2 === 0 ? 'permit' : 'refuse', i % 2 === 0 ? `token-${i}` : '[NO_POLICY_MATCH] no', {}))
  return chain.exportJsonl().toString('utf8').trim().split('\n')
}

/** `line` with its signed data replaced by `data` (bytes). */
function withData(line: string, data: Buffer): string {
  const o = JSON.parse(line) as { signed_payload: { data: number[] } }
  o.signed_payload.data = [...data]
  return JSON.stringify(o)
}

describe('audit report: reading the entries', () => {
  test('an entry whose data is not a JSON object (or not UTF-8) is counted as unreadable, in the output and the page', () => {
    const lines = chainLines(5)
    lines[1] = withData(lines[1]!, Buffer.from('not json'))
    lines[3] = withData(lines[3]!, Buffer.from([0x7b, 0xff, 0x7d]))
    const blob = Buffer.from(`${lines.join('\n')}\n`)
    const read = readEntries(blob)
    expect(read.unreadable).toBe(2)
    expect(read.entries.map((e) => e.index)).toEqual([0, 2, 4])

    const dir = tempDir('report-unreadable')
    const chain = join(dir, 'chain.jsonl')
    writeFileSync(chain, blob)
    const out = join(dir, 'report.html')
    const r = kavach(['audit', 'report', chain, '--out', out])
    expect(r.stderr).toBe('')
    expect(r.stdout).toBe(`report ${out}: 3 entries, 2 entries could not be read (not verified)\n`)
    expect(JSON.parse(kavach(['audit', 'report', chain, '--out', out, '--json']).stdout)).toMatchObject({ entries: 3, unreadable: 2 })
    expect(readFileSync(out, 'utf8')).toContain('<p id="unreadable" class="bad">2 entries could not be read: they are not in the chart, the lists or the table.</p>')
  })

  test("the chart's time span of 200,000 entries: no stack overflow, non-dates ignored", () => {
    const t0 = Date.parse('2026-01-15T05:30:00Z')
    const times = Array.from({ length: 200_000 }, (_, i) => t0 + i * 1000)
    times.push(Number.NaN)
    expect(timeSpan(times)).toBe(199_999_000)
    expect(timeSpan([])).toBe(0)
    expect(timeSpan([Number.NaN])).toBe(0)
  })
})
