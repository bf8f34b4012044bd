// BENCHMARKS.md regeneration (bench/report.ts) and the charts (bench/charts.ts): a suite's
// generated block is replaced between its markers and nothing else changes, so hand-written
// prose survives; the charts are real SVG rendered by vega from the results.

import { describe, expect, it } from 'vitest'

import { chartSvg } from '../bench/charts'
import { withSection } from '../bench/report'
import type { SuiteResult } from '../bench/results'

function result(over: Partial<SuiteResult> = {}): SuiteResult {
  return {
    suite: 'peers',
    title: 'Policy engines',
    recordedAt: '2026-12-06T01:59:00.000Z',
    machine: { cpu: 'Test CPU', cores: 2, os: 'linux-x64', node: 'v20.20.2', rust: 'rustc 1.95.0', load1: 1.5 },
    libraries: { 'kavach-sdk': '0.1.0', casbin: '5.51.1' },
    method: 'Alternating rounds.',
    chart: 'policies',
    comparisons: [10, 1000].map((n) => ({
      label: `${n} policies`,
      policies: n,
      rows: [
        { library: 'kavach', name: 'k', p50us: 2, p99us: 20, opsPerSec: 400_000, samples: 1000 },
        { library: 'casbin', name: 'c', p50us: n * 2, p99us: n * 20, opsPerSec: 400_000 / n, samples: 100 },
      ],
    })),
    ...over,
  }
}

describe('withSection', () => {
  const start = '<!-- bench:peers:start -->'
  const end = '<!-- bench:peers:end -->'

  it('replaces only the text between the suite markers', () => {
    const doc = `# Benchmarks\n\nProse before.\n\n${start}\nold table\n${end}\n\nProse after, by hand.\n`
    const out = withSection(doc, result())
    expect(out.startsWith('# Benchmarks\n\nProse before.\n\n<!-- bench:peers:start -->\n')).toBe(true)
    expect(out.endsWith(`${end}\n\nProse after, by hand.\n`)).toBe(true)
    expect(out).not.toContain('old table')
    expect(out).toContain('| 1000 policies | kavach | 2.00 µs | 20.0 µs | 400,000 | 1,000 |  |  |')
    expect(out).toContain('|  | casbin | 2.00 ms | 20.0 ms | 400 | 100 | 1,000× | 1,000× |')
    expect(out).toContain('Test CPU, 2 cores, linux-x64 (load average 1.5 at the end of the run)')
    expect(out).toContain('![Policy engines](docs/bench/peers.svg)')
    // Regenerating from the same data changes nothing.
    expect(withSection(out, result())).toBe(out)
  })

  it('leaves other suites alone and appends a section for a suite without markers', () => {
    const doc = `# Benchmarks\n\n<!-- bench:pq:start -->\npq table\n<!-- bench:pq:end -->\n`
    const out = withSection(doc, result())
    expect(out.startsWith(`${doc.trimEnd()}\n\n## Policy engines\n\n${start}\n`)).toBe(true)
    expect(out).toContain('pq table')
    expect(out.trimEnd().endsWith(end)).toBe(true)
  })
})

describe('chartSvg', () => {
  it('draws latency against policy count with a line per library', async () => {
    const svg = await chartSvg(result())
    expect(svg.startsWith('<svg')).toBe(true)
    expect(svg).toContain('policies in the set')
    expect(svg).toContain('p50 latency (µs)')
    for (const name of ['kavach', 'casbin']) expect(svg).toContain(name)
  })

  it('draws a bar per peer for the ratio suites, labelled with the ratio', async () => {
    const svg = await chartSvg(result({ suite: 'pq', chart: 'ratios', title: 'PQ' }))
    expect(svg.startsWith('<svg')).toBe(true)
    expect(svg).toContain('times faster than the peer')
    expect(svg).toContain('1000 policies')
    expect(svg).toContain('1000.0')
  })
})
