// The times `kavach explain --now` and a test case's `now` take: an ISO 8601 date-time,
// `YYYY-MM-DDTHH:MM[:SS[.fff…]]` with an optional `Z` or `±HH:MM` offset. One without an offset
// is UTC (never the machine's time zone: a case must give the same verdict on every machine).
// `Date.parse` is not used: it reads such a time as local time and accepts text that is not
// ISO 8601 at all ("Jan 15 2026 08:30").

const ISO_DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2})?$/

/** What the error says a time must look like. */
export const ISO_DATE_TIME_HINT = 'an ISO 8601 date-time such as 2026-01-15T08:30:00Z or 2026-01-15T14:00:00+05:30 (without an offset it is UTC)'

/** Unix milliseconds of `text`, or undefined when it is not an ISO 8601 date-time (or not a real one: 2026-02-30). */
export function parseIsoDateTime(text: string): number | undefined {
  const m = ISO_DATE_TIME.exec(text)
  if (m === null) return undefined
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map((p) => Number(p ?? 0)) as [number, number, number, number, number, number]
  const ms = Number((m[7] ?? '').padEnd(3, '0').slice(0, 3))
  if (month < 1 || month > 12 || hour > 23 || minute > 59 || second > 59) return undefined
  // setUTCFullYear, not Date.UTC: Date.UTC reads the years 0-99 as 1900-1999.
  const d = new Date(0)
  d.setUTCFullYear(year, month - 1, day)
  // A day past the month's end (2026-02-30) rolls over into the next month: not a date.
  if (d.getUTCDate() !== day) return undefined
  const utc = d.getTime() + ((hour * 60 + minute) * 60 + second) * 1000 + ms
  const offset = m[8]
  if (offset === undefined || offset === 'Z') return utc
  const oh = Number(offset.slice(1, 3))
  const om = Number(offset.slice(4, 6))
  if (oh > 23 || om > 59) return undefined
  return utc - (offset[0] === '-' ? -1 : 1) * (oh * 60 + om) * 60_000
}
