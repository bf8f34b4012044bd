// An explanation (`gate.explain`) as text for terminals: one line per step, one per condition,
// the decisive step marked with `=>`.

import type { Explanation } from '../native.js'

export function verdictLine(e: Explanation): string {
  const v = e.verdict
  if (v.isPermit) return `verdict: PERMIT${v.observed === undefined ? '' : ` (observe-only; would be ${v.observed.kind.toUpperCase()} ${v.observed.code ?? ''})`}`
  return `verdict: ${v.kind.toUpperCase()} ${v.code ?? ''} (${v.evaluator ?? '?'}): ${v.reason ?? ''}`
}

export function explainText(e: Explanation): string {
  const lines = [verdictLine(e)]
  for (const s of e.steps) {
    const mark = s.decisive ? '=>' : '  '
    const effect = s.effect === undefined || s.effect === null ? '' : ` (${s.effect})`
    lines.push(`${mark} ${s.evaluator.padEnd(10)} ${s.subject}${effect}: ${s.outcome}`)
    for (const c of s.checks) lines.push(`     ${c.holds ? 'ok  ' : 'FAIL'} ${c.condition.padEnd(15)} ${c.detail}`)
    for (const n of s.notes) lines.push(`     note ${n}`)
  }
  return lines.join('\n')
}
