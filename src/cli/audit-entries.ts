// Reading the entries of a JSONL audit chain for display (the report). Reading is not
// verifying: the report's status line comes from the native verifier (audit-verify.ts).

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

export interface ReadEntries {
  entries: ReportEntry[]
  /** Lines that are not a readable entry (not JSON, no `data`, or `data` that is not a JSON object). */
  unreadable: number
}

/**
 * Every entry that parses. A line that does not is counted in `unreadable`, never dropped
 * silently: a signed entry the report cannot show must still show in its numbers.
 */
export function readEntries(blob: Buffer): ReadEntries {
  const entries: ReportEntry[] = []
  let unreadable = 0
  for (const text of blob.toString('utf8').split('\n')) {
    if (text.trim() === '') continue
    const entry = readEntry(text)
    if (entry === undefined) unreadable++
    else entries.push(entry)
  }
  return { entries, unreadable }
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

/** The `n` most frequent values of `key` among `entries`, most frequent first. */
export function top(entries: ReportEntry[], key: (e: ReportEntry) => string | null, n: number): Array<[string, number]> {
  const counts = new Map<string, number>()
  for (const e of entries) {
    const k = key(e)
    if (k !== null) counts.set(k, (counts.get(k) ?? 0) + 1)
  }
  return [...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).slice(0, n)
}
