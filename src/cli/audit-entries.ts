// Reading the entries of a JSONL audit chain for display (the report). Reading is not
// verifying: the report's status line comes from the native verifier (audit-verify.ts).
//
// The chain is read line by line and folded into counts (verdicts, top refusals, verdicts per
// time bucket) that cover every entry, while only the latest EMBEDDED_ENTRIES entries are kept
// for the table: memory stays near the size of the kept entries, whatever the chain's length.

import { AUDIT_MAX_LINE_BYTES } from '../generated/layout.js'

export interface ReportEntry {
  index: number
  timestamp: string
  principal: string
  action: string
  resource: string | null
  verdict: string
  detail: string
  decidedBy: string | null
  /** The refuse code, from a `[CODE] reason` detail. */
  code: string | null
}

interface Line {
  index?: unknown
  signed_payload?: { data?: unknown }
}

/** The entries the report's table holds: the latest of the chain. */
export const EMBEDDED_ENTRIES = 10_000

/** The verdicts the report counts and charts, in the chart's order. */
export const VERDICTS = ['permit', 'refuse', 'invalidate'] as const

/** Verdicts of one time bucket: the bucket's start (unix ms, UTC) and a count per verdict. */
export interface BucketCounts {
  start: number
  counts: Record<(typeof VERDICTS)[number], number>
}

export interface ReadEntries {
  /** The latest readable entries, at most the `keep` given to readEntries, in chain order. */
  entries: ReportEntry[]
  /** Readable entries in the whole chain. */
  total: number
  /** Lines that are not a readable entry (over MAX_LINE_BYTES, not JSON, no `data`, or `data` that is not a JSON object). */
  unreadable: number
  /** Entries per verdict, over the whole chain. */
  verdicts: Record<(typeof VERDICTS)[number], number>
  /** Over the whole chain, of the entries whose verdict is not `permit`: counts per action, principal and refuse code. */
  refused: { actions: Map<string, number>; principals: Map<string, number>; codes: Map<string, number> }
  /** Milliseconds from the earliest to the latest entry time (0 without any). */
  span: number
  /**
   * The bucket size of `buckets`, chosen from `span` and the entries' spread: a minute, an hour,
   * a day, or (never more than MAX_BUCKETS buckets) a month's, a year's or ten, a hundred... years'
   * mean length in milliseconds.
   */
  bucketMs: number
  /** Verdicts per time bucket over the whole chain, earliest first; entries without a time are left out. */
  buckets: BucketCounts[]
}

/**
 * The longest line read as an entry, in bytes: the native chain reader's own bound (generated
 * from `kavach_pq::audit::MAX_LINE_BYTES`, derived there from the largest entry a writer signs),
 * so a line the native reader reads is never counted as unreadable here. A longer line is
 * counted as unreadable and its bytes are skipped up to its newline, never held: a chain that
 * is one enormous line (a sparse file's hole) is read in bounded memory.
 */
export const MAX_LINE_BYTES = AUDIT_MAX_LINE_BYTES

/** What chainLines yields for a line over MAX_LINE_BYTES, in place of its text. */
export const LINE_TOO_LONG: unique symbol = Symbol('line too long')

/**
 * Every line of the chain, from its bytes in chunks: a line ends at `\n` (the bytes of a
 * multi-byte UTF-8 character never hold 0x0A, so each line decodes as the whole text would).
 * A line over `maxLineBytes` is LINE_TOO_LONG; at most `maxLineBytes` of a line are held.
 */
export function* chainLines(chunks: Iterable<Buffer>, maxLineBytes = MAX_LINE_BYTES): Generator<string | typeof LINE_TOO_LONG> {
  let pending: Buffer[] = []
  let pendingBytes = 0
  // The current line is over the bound: its bytes are skipped up to its newline.
  let tooLong = false
  for (const chunk of chunks) {
    let from = 0
    for (let nl = chunk.indexOf(0x0a, from); nl >= 0; nl = chunk.indexOf(0x0a, from)) {
      const tail = chunk.subarray(from, nl)
      if (tooLong || pendingBytes + tail.length > maxLineBytes) yield LINE_TOO_LONG
      else yield (pending.length === 0 ? tail : Buffer.concat([...pending, tail])).toString('utf8')
      pending = []
      pendingBytes = 0
      tooLong = false
      from = nl + 1
    }
    if (from < chunk.length && !tooLong) {
      pendingBytes += chunk.length - from
      tooLong = pendingBytes > maxLineBytes
      if (tooLong) pending = []
      else pending.push(chunk.subarray(from))
    }
  }
  if (tooLong) yield LINE_TOO_LONG
  else if (pending.length > 0) yield Buffer.concat(pending).toString('utf8')
}

const MINUTE_MS = 60_000
const HOUR_MS = 3_600_000
const DAY_MS = 86_400_000
/** A Gregorian year's mean length; a month's is a twelfth of it. */
const YEAR_MS = 31_556_952_000

/** The most buckets the chart is given, however the chain's times are spread. */
export const MAX_BUCKETS = 500

/** A bucket size that gives a readable number of bars for the chain's time span. */
export function bucketFor(span: number): number {
  return span > 3 * DAY_MS ? DAY_MS : span > 3 * HOUR_MS ? HOUR_MS : MINUTE_MS
}

/** The earliest time a JavaScript date holds (a bucket of it may start earlier). */
const EARLIEST_DATE_MS = -8.64e15

/**
 * The UTC start of month `month` (0-11) of `year`, or the earliest date when it lies before
 * that (`Date.UTC` is not used: it reads years 0 to 99 as 1900 to 1999).
 */
function monthStart(year: number, month: number): number {
  const d = new Date(0)
  d.setUTCFullYear(year, month, 1)
  const t = d.getTime()
  return Number.isNaN(t) ? EARLIEST_DATE_MS : t
}

/**
 * A bucket size: its nominal length (`bucketMs`), where a time's bucket starts (UTC), and how
 * many buckets it may hold before the next size up takes over. Each size's buckets lie within
 * the next size's, so buckets merge by their starts.
 */
interface BucketSize {
  ms: number
  start: (time: number) => number
  limit: number
}

const fixed = (ms: number, limit: number): BucketSize => ({ ms, start: (t) => Math.floor(t / ms) * ms, limit })
const years = (n: number): BucketSize => ({ ms: n * YEAR_MS, start: (t) => monthStart(Math.floor(new Date(t).getUTCFullYear() / n) * n, 0), limit: MAX_BUCKETS })

/**
 * Minutes, hours, days, months, years, then decades and up by tens: a JavaScript date spans
 * under 600,000 years, so the last size holds a handful of buckets at most.
 */
const SIZES: readonly BucketSize[] = [
  fixed(MINUTE_MS, 200),
  fixed(HOUR_MS, 100),
  fixed(DAY_MS, MAX_BUCKETS),
  {
    ms: YEAR_MS / 12,
    start: (t) => {
      const d = new Date(t)
      return monthStart(d.getUTCFullYear(), d.getUTCMonth())
    },
    limit: MAX_BUCKETS,
  },
  years(1),
  years(10),
  years(100),
  years(1_000),
  years(10_000),
  years(100_000),
  years(1_000_000),
]

/**
 * Verdict counts per time bucket, starting per minute. Times in n distinct minutes span more
 * than n - 2 minutes, so past 200 minutes the chart's buckets are hours at least, and past 100
 * hours days. Past MAX_BUCKETS days they are months, then years, then decades and up: the
 * buckets merge as they go, and there are never more than MAX_BUCKETS of them.
 */
class TimeBuckets {
  private level = 0
  private counts = new Map<number, number[]>()
  private min = Infinity
  private max = -Infinity

  add(time: number, verdict: number): void {
    if (!Number.isFinite(time)) return
    if (time < this.min) this.min = time
    if (time > this.max) this.max = time
    if (verdict < 0) return
    let row = this.counts.get(SIZES[this.level]!.start(time))
    if (row === undefined) {
      row = VERDICTS.map(() => 0)
      this.counts.set(SIZES[this.level]!.start(time), row)
      this.mergeWhileOver()
      row = this.counts.get(SIZES[this.level]!.start(time))!
    }
    row[verdict]!++
  }

  get span(): number {
    return this.max < this.min ? 0 : this.max - this.min
  }

  /** The buckets at the size the span calls for, earliest first. */
  finish(): { bucketMs: number; buckets: BucketCounts[] } {
    const wanted = SIZES.findIndex((size) => size.ms === bucketFor(this.span))
    while (this.level < wanted) this.merge()
    this.mergeWhileOver()
    const buckets = [...this.counts]
      .sort((a, b) => a[0] - b[0])
      .map(([start, row]) => ({ start, counts: Object.fromEntries(VERDICTS.map((v, i) => [v, row[i]!])) as BucketCounts['counts'] }))
    return { bucketMs: SIZES[this.level]!.ms, buckets }
  }

  private mergeWhileOver(): void {
    while (this.level < SIZES.length - 1 && this.counts.size > SIZES[this.level]!.limit) this.merge()
  }

  /** Merges the buckets into those of the next size up. */
  private merge(): void {
    const next = SIZES[this.level + 1]!
    const merged = new Map<number, number[]>()
    for (const [start, row] of this.counts) {
      const to = next.start(start)
      const into = merged.get(to)
      if (into === undefined) merged.set(to, row)
      else row.forEach((n, i) => (into[i]! += n))
    }
    this.level++
    this.counts = merged
  }
}

function bump(counts: Map<string, number>, key: string | null): void {
  if (key !== null) counts.set(key, (counts.get(key) ?? 0) + 1)
}

/**
 * Every entry that parses is counted; the latest `keep` are kept. A line that does not parse is
 * counted in `unreadable`, never dropped silently: a signed entry the report cannot show must
 * still show in its numbers. `chain` is the chain's bytes, whole or in chunks.
 */
export function readEntries(chain: Buffer | Iterable<Buffer>, keep = EMBEDDED_ENTRIES): ReadEntries {
  // The latest `keep` entries: a ring, `next` the slot the next entry takes.
  const ring: ReportEntry[] = []
  let next = 0
  let total = 0
  let unreadable = 0
  const verdicts = Object.fromEntries(VERDICTS.map((v) => [v, 0])) as ReadEntries['verdicts']
  const refused: ReadEntries['refused'] = { actions: new Map(), principals: new Map(), codes: new Map() }
  const times = new TimeBuckets()
  for (const text of chainLines(Buffer.isBuffer(chain) ? [chain] : chain)) {
    if (text !== LINE_TOO_LONG && text.trim() === '') continue
    const entry = text === LINE_TOO_LONG ? undefined : readEntry(text)
    if (entry === undefined) {
      unreadable++
      continue
    }
    total++
    const verdict = (VERDICTS as readonly string[]).indexOf(entry.verdict)
    if (verdict >= 0) verdicts[VERDICTS[verdict]!]++
    if (entry.verdict !== 'permit') {
      bump(refused.actions, entry.action)
      bump(refused.principals, entry.principal)
      bump(refused.codes, entry.code)
    }
    times.add(Date.parse(entry.timestamp), verdict)
    if (keep <= 0) continue
    if (ring.length < keep) ring.push(entry)
    else ring[next] = entry
    next = (next + 1) % keep
  }
  const entries = ring.length < keep ? ring : [...ring.slice(next), ...ring.slice(0, next)]
  return { entries, total, unreadable, verdicts, refused, span: times.span, ...times.finish() }
}

/** Strict: `data` that is not UTF-8 is unreadable, not shown with replacement characters. */
const utf8 = new TextDecoder('utf-8', { fatal: true })

function readEntry(text: string): ReportEntry | undefined {
  try {
    const line = JSON.parse(text) as Line
    const data = line.signed_payload?.data
    if (!Array.isArray(data)) return undefined
    const e = JSON.parse(utf8.decode(Buffer.from(data as number[]))) as unknown
    if (typeof e !== 'object' || e === null || Array.isArray(e)) return undefined
    return toReportEntry(Number(line.index), e as Record<string, unknown>)
  } catch {
    return undefined
  }
}

function toReportEntry(index: number, e: Record<string, unknown>): ReportEntry {
  const detail = String(e.verdict_detail ?? '')
  return {
    index,
    timestamp: String(e.timestamp ?? ''),
    principal: String(e.principal_id ?? ''),
    action: String(e.action_name ?? ''),
    resource: typeof e.resource === 'string' ? e.resource : null,
    verdict: String(e.verdict ?? ''),
    detail,
    decidedBy: typeof e.decided_by === 'string' ? e.decided_by : null,
    code: /^\[([A-Z_]+)\]/.exec(detail)?.[1] ?? null,
  }
}

/** The `n` largest counts, largest first (ties by name); one pass, holding `n` at a time. */
export function top(counts: Map<string, number>, n: number): Array<[string, number]> {
  const before = (a: [string, number], b: [string, number]): boolean => a[1] > b[1] || (a[1] === b[1] && a[0].localeCompare(b[0]) < 0)
  const best: Array<[string, number]> = []
  if (n <= 0) return best
  for (const row of counts) {
    if (best.length === n && !before(row, best[n - 1]!)) continue
    let at = best.length
    while (at > 0 && before(row, best[at - 1]!)) at--
    best.splice(at, 0, row)
    if (best.length > n) best.pop()
  }
  return best
}
