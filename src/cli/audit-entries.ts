// Reading the entries of a JSONL audit chain for display (the report). Reading is not
// verifying: the report's status line comes from the native verifier (audit-verify.ts).
//
// The chain is read line by line and folded into counts (verdicts, top refusals, verdicts per
// time bucket) that cover every entry, while only the latest EMBEDDED_ENTRIES entries are kept
// for the table: memory stays near the size of the kept entries, whatever the chain's length.

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
  /** Lines that are not a readable entry (not JSON, no `data`, or `data` that is not a JSON object). */
  unreadable: number
  /** Entries per verdict, over the whole chain. */
  verdicts: Record<(typeof VERDICTS)[number], number>
  /** Over the whole chain, of the entries whose verdict is not `permit`: counts per action, principal and refuse code. */
  refused: { actions: Map<string, number>; principals: Map<string, number>; codes: Map<string, number> }
  /** Milliseconds from the earliest to the latest entry time (0 without any). */
  span: number
  /** The bucket size of `buckets` (a minute, an hour or a day), chosen from `span`. */
  bucketMs: number
  /** Verdicts per time bucket over the whole chain, earliest first; entries without a time are left out. */
  buckets: BucketCounts[]
}

/**
 * Every line of the chain, from its bytes in chunks: a line ends at `\n` (the bytes of a
 * multi-byte UTF-8 character never hold 0x0A, so each line decodes as the whole text would).
 */
export function* chainLines(chunks: Iterable<Buffer>): Generator<string> {
  let pending: Buffer[] = []
  for (const chunk of chunks) {
    let from = 0
    for (let nl = chunk.indexOf(0x0a, from); nl >= 0; nl = chunk.indexOf(0x0a, from)) {
      const tail = chunk.subarray(from, nl)
      yield (pending.length === 0 ? tail : Buffer.concat([...pending, tail])).toString('utf8')
      pending = []
      from = nl + 1
    }
    if (from < chunk.length) pending.push(chunk.subarray(from))
  }
  if (pending.length > 0) yield Buffer.concat(pending).toString('utf8')
}

const MINUTE_MS = 60_000
const HOUR_MS = 3_600_000
const DAY_MS = 86_400_000

/** A bucket size that gives a readable number of bars for the chain's time span. */
export function bucketFor(span: number): number {
  return span > 3 * DAY_MS ? DAY_MS : span > 3 * HOUR_MS ? HOUR_MS : MINUTE_MS
}

/**
 * Verdict counts per time bucket, starting per minute. Times in n distinct minutes span more
 * than n - 2 minutes, so past 200 minutes the chart's buckets are hours at least, and past 100
 * hours days: the buckets merge as they go, and their number stays near the chain's days.
 */
class TimeBuckets {
  private size = MINUTE_MS
  private counts = new Map<number, number[]>()
  private min = Infinity
  private max = -Infinity

  add(time: number, verdict: number): void {
    if (!Number.isFinite(time)) return
    if (time < this.min) this.min = time
    if (time > this.max) this.max = time
    if (verdict < 0) return
    const start = Math.floor(time / this.size) * this.size
    let row = this.counts.get(start)
    if (row === undefined) {
      row = VERDICTS.map(() => 0)
      this.counts.set(start, row)
      if (this.size === MINUTE_MS && this.counts.size > 200) this.merge(HOUR_MS)
      else if (this.size === HOUR_MS && this.counts.size > 100) this.merge(DAY_MS)
      row = this.counts.get(Math.floor(time / this.size) * this.size)!
    }
    row[verdict]!++
  }

  get span(): number {
    return this.max < this.min ? 0 : this.max - this.min
  }

  /** The buckets at the size the span calls for, earliest first. */
  finish(): { bucketMs: number; buckets: BucketCounts[] } {
    const bucketMs = bucketFor(this.span)
    if (bucketMs > this.size) this.merge(bucketMs)
    const buckets = [...this.counts]
      .sort((a, b) => a[0] - b[0])
      .map(([start, row]) => ({ start, counts: Object.fromEntries(VERDICTS.map((v, i) => [v, row[i]!])) as BucketCounts['counts'] }))
    return { bucketMs, buckets }
  }

  private merge(size: number): void {
    const merged = new Map<number, number[]>()
    for (const [start, row] of this.counts) {
      const to = Math.floor(start / size) * size
      const into = merged.get(to)
      if (into === undefined) merged.set(to, row)
      else row.forEach((n, i) => (into[i]! += n))
    }
    this.size = size
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
    if (text.trim() === '') continue
    const entry = readEntry(text)
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
