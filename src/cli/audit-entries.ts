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

/** Every entry that parses; a line that does not is skipped (the verifier names it). */
export function readEntries(blob: Buffer): ReportEntry[] {
  const out: ReportEntry[] = []
  for (const text of blob.toString('utf8').split('\n')) {
    if (text.trim() === '') continue
    try {
      const line = JSON.parse(text) as Line
      const data = line.signed_payload?.data
      if (!Array.isArray(data)) continue
      const e = JSON.parse(Buffer.from(data as number[]).toString('utf8')) as Record<string, unknown>
      const detail = String(e.verdict_detail ?? '')
      out.push({
        index: Number(line.index),
        timestamp: String(e.timestamp ?? ''),
        principal: String(e.principal_id ?? ''),
        action: String(e.action_name ?? ''),
        resource: typeof e.resource === 'string' ? e.resource : null,
        verdict: String(e.verdict ?? ''),
        detail,
        decidedBy: typeof e.decided_by === 'string' ? e.decided_by : null,
        code: /^\[([A-Z_]+)\]/.exec(detail)?.[1] ?? null,
      })
    } catch {
      // not an entry: the verifier reports it
    }
  }
  return out
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
