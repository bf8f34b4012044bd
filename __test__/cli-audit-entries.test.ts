// What `kavach audit report` reads from a chain: every line is an entry it shows or one it
// counts as unreadable (never dropped silently), lines read in chunks are the lines of the
// whole, and the chart's buckets of a long chain stay few and count every entry.
import { spawnSync } from 'node:child_process'
import { appendFileSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

import { beforeAll, describe, expect, test } from 'vitest'

import { AuditEntry, KavachKeyPair, SignedAuditChain } from '../index'
import { LINE_TOO_LONG, MAX_BUCKETS, MAX_LINE_BYTES, chainLines as linesOf, readEntries } from '../src/cli/audit-entries'
import { BIN, ensureBuilt, kavach, root, tempDir } from './fixtures/cli'

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

  test('a chain read in chunks of any size gives the entries and counts of the whole', () => {
    const lines = chainLines(7)
    lines[2] = withData(lines[2]!, Buffer.from('[1]'))
    // A multi-byte character in the text, and no newline after the last line.
    const blob = Buffer.from(`${lines.join('\n')}\n\n{"not":"an entry é"}`)
    const whole = readEntries(blob)
    expect(whole.total).toBe(6)
    expect(whole.unreadable).toBe(2)
    for (const size of [1, 2, 7, 64, 1000]) {
      const chunks = Array.from({ length: Math.ceil(blob.length / size) }, (_, i) => blob.subarray(i * size, (i + 1) * size))
      const read = readEntries(chunks)
      expect(read.entries, `chunks of ${size}`).toEqual(whole.entries)
      expect([read.total, read.unreadable, read.verdicts], `chunks of ${size}`).toEqual([whole.total, whole.unreadable, whole.verdicts])
    }
    // The latest `keep`, in chain order.
    expect(readEntries(blob, 4).entries.map((e) => e.index)).toEqual([3, 4, 5, 6])
  })

  test('a line over the bound is one unreadable line, whatever the chunks; a legal entry of the largest size is read', () => {
    const blob = Buffer.from(`first\n${'x'.repeat(25)}\nlast\n${'y'.repeat(11)}`)
    for (const size of [1, 3, 10, 64]) {
      const chunks = Array.from({ length: Math.ceil(blob.length / size) }, (_, i) => blob.subarray(i * size, (i + 1) * size))
      expect([...linesOf(chunks, 10)], `chunks of ${size}`).toEqual(['first', LINE_TOO_LONG, 'last', LINE_TOO_LONG])
      expect([...linesOf(chunks, 25)], `chunks of ${size}`).toEqual(['first', 'x'.repeat(25), 'last', 'y'.repeat(11)])
    }

    // The longest line an entry makes: a detail of control characters up to the native 1 MiB bound
    // on an entry's fields (with its 36-byte id).
    const chain = new SignedAuditChain(KavachKeyPair.generate())
    const detail = '\x1f'.repeat((1 << 20) - 'agent-7'.length - 'issue_refund'.length - 36)
    chain.append(AuditEntry.new('agent-7', 'issue_refund', 'refuse', detail, {}))
    expect(() => AuditEntry.new('agent-7', 'issue_refund', 'refuse', `${detail}\x1f`, {})).toThrow(/audit entry too large/)
    const biggest = chain.exportJsonl()
    expect(biggest.length).toBeGreaterThan(20 * 1024 * 1024)
    expect(biggest.length).toBeLessThan(MAX_LINE_BYTES)
    const read = readEntries(biggest)
    expect([read.total, read.unreadable, read.entries[0]!.detail]).toEqual([1, 0, detail])
  })

  test('a chain that is one enormous line (a sparse hole) is read in bounded memory: the line counts as unreadable, the entry after it is read', () => {
    const lines = chainLines(2)
    const dir = tempDir('report-hole')
    const chain = join(dir, 'chain.jsonl')
    writeFileSync(chain, `${lines[0]}\n`)
    // 1 GiB of zeros with no newline, taking no disk. Held whole, the line alone fills the
    // 2 GB of address space the CLI is given below (Node itself takes about 1.1 GB of it) and
    // is longer than a JavaScript string may be.
    truncateSync(chain, statSync(chain).size + 1024 * 1024 * 1024)
    appendFileSync(chain, `\n${lines[1]}\n`)
    const out = join(dir, 'report.html')
    const r = spawnSync('/bin/sh', ['-c', 'ulimit -v 2000000 && exec "$@"', 'sh', process.execPath, BIN, 'audit', 'report', chain, '--out', out], { cwd: root, encoding: 'utf8' })
    expect([r.status, r.signal, r.stderr]).toEqual([0, null, ''])
    expect(r.stdout).toBe(`report ${out}: 2 entries, 1 entry could not be read (not verified)\n`)
    expect(readFileSync(out, 'utf8')).toContain('<p id="unreadable" class="bad">1 entry could not be read: they are not in the chart, the lists or the table.</p>')
  })

  test("the chart's buckets of 200,000 entries over 55 hours: hours, every entry counted, non-dates left out", () => {
    const t0 = Date.parse('2026-01-15T05:30:00Z')
    const line = (i: number, timestamp: string): string => JSON.stringify({ index: i, signed_payload: { data: [...Buffer.from(JSON.stringify({ timestamp, verdict: i % 2 === 0 ? 'permit' : 'refuse' }))] } })
    const text = Array.from({ length: 200_000 }, (_, i) => line(i, new Date(t0 + i * 1000).toISOString()))
    text.push(line(200_000, 'not a date'))
    const read = readEntries(Buffer.from(text.join('\n')))
    expect(read.total).toBe(200_001)
    expect(read.entries.length).toBe(10_000)
    expect(read.span).toBe(199_999_000)
    expect(read.bucketMs).toBe(3_600_000)
    const hours = new Set(Array.from({ length: 200_000 }, (_, i) => Math.floor((t0 + i * 1000) / 3_600_000) * 3_600_000))
    expect(read.buckets.map((b) => b.start)).toEqual([...hours])
    expect(read.buckets.reduce((n, b) => n + b.counts.permit + b.counts.refuse, 0)).toBe(200_000)
    expect(readEntries(Buffer.from(line(0, 'never'))).span).toBe(0)
  })
  test("the chart's buckets of entries on distinct days: months, then years and up, never more than MAX_BUCKETS", () => {
    const line = (i: number, time: number): string =>
      JSON.stringify({ index: i, signed_payload: { data: [...Buffer.from(JSON.stringify({ timestamp: new Date(time).toISOString(), verdict: i % 2 === 0 ? 'permit' : 'refuse' }))] } })
    const chain = (times: number[]): ReturnType<typeof readEntries> => readEntries(Buffer.from(times.map((t, i) => line(i, t)).join('\n')), 0)
    const counted = (read: ReturnType<typeof readEntries>): number => read.buckets.reduce((n, b) => n + b.counts.permit + b.counts.refuse, 0)

    // One entry a day for 2,000 days: one bucket per UTC month.
    const daily = Array.from({ length: 2_000 }, (_, i) => Date.parse('2020-01-01T12:00:00Z') + i * 86_400_000)
    const byMonth = chain(daily)
    const months = new Set(daily.map((t) => new Date(t).toISOString().slice(0, 7)))
    expect(byMonth.buckets.map((b) => new Date(b.start).toISOString().slice(0, 7))).toEqual([...months])
    expect(byMonth.buckets.every((b) => new Date(b.start).toISOString().endsWith('-01T00:00:00.000Z'))).toBe(true)
    expect(counted(byMonth)).toBe(2_000)

    // 300,000 entries three days apart from the year 1000: decades.
    const spread = Array.from({ length: 300_000 }, (_, i) => Date.UTC(1000, 0, 1) + i * 3 * 86_400_000)
    const byDecade = chain(spread)
    expect(byDecade.buckets.length).toBeLessThanOrEqual(MAX_BUCKETS)
    expect(byDecade.buckets.length).toBeGreaterThan(1)
    expect(byDecade.buckets.every((b) => new Date(b.start).getUTCFullYear() % 10 === 0)).toBe(true)
    expect(counted(byDecade)).toBe(300_000)

    // The first and last times a date holds, and every year between a few apart.
    const edges = [-8.64e15, 8.64e15, ...Array.from({ length: 2_000 }, (_, i) => Date.UTC(2000 + i * 3, 5, 1))]
    const wide = chain(edges)
    expect(wide.buckets.length).toBeLessThanOrEqual(MAX_BUCKETS)
    expect(wide.buckets.every((b) => Number.isFinite(b.start))).toBe(true)
    expect(counted(wide)).toBe(edges.length)
  })
})
