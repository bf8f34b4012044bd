// JUnit XML for `kavach test --junit` (the subset CI systems read: testsuite, testcase, failure).

export interface CaseResult {
  name: string
  passed: boolean
  /** Why it failed: expected vs. got, and the trace. */
  failure?: string
  ms: number
}

/**
 * Every character XML 1.0 cannot hold (outside its `Char` production: C0 controls but tab, CR
 * and LF; lone surrogates; U+FFFE and U+FFFF) becomes U+FFFD: a character reference cannot
 * carry them either, and a CI system drops a report that is not well formed.
 */
const NOT_XML_CHAR = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu

function xml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`).replace(NOT_XML_CHAR, '\uFFFD')
}

export function junitXml(suite: string, results: CaseResult[]): string {
  const failures = results.filter((r) => !r.passed).length
  const seconds = (ms: number): string => (ms / 1000).toFixed(3)
  const total = results.reduce((t, r) => t + r.ms, 0)
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites tests="${results.length}" failures="${failures}" time="${seconds(total)}">`,
    `  <testsuite name="${xml(suite)}" tests="${results.length}" failures="${failures}" errors="0" skipped="0" time="${seconds(total)}">`,
  ]
  for (const r of results) {
    const open = `    <testcase classname="${xml(suite)}" name="${xml(r.name)}" time="${seconds(r.ms)}"`
    if (r.passed) {
      lines.push(`${open}/>`)
    } else {
      const first = (r.failure ?? '').split('\n')[0]!
      lines.push(`${open}>`, `      <failure message="${xml(first)}">${xml(r.failure ?? '')}</failure>`, '    </testcase>')
    }
  }
  lines.push('  </testsuite>', '</testsuites>', '')
  return lines.join('\n')
}
