// SVG charts of one suite's results: a vega-lite spec compiled to vega and rendered headless by
// vega's `View.toSVG()` (no canvas, no browser). Policy engines get latency against policy count
// on log-log axes; every other suite a bar per peer of how many times faster kavach is.

import type { TopLevelSpec } from 'vega-lite'

import { speedup, type SuiteResult } from './results'

/** vega and vega-lite are ES modules only: loaded once, on first use. */
async function render(spec: TopLevelSpec): Promise<string> {
  const [vega, vegaLite] = await Promise.all([import('vega'), import('vega-lite')])
  const view = new vega.View(vega.parse(vegaLite.compile(spec).spec), { renderer: 'none' })
  const svg = await view.toSVG()
  view.finalize()
  return svg
}

/** Long comparison and library names stay whole. */
const CONFIG = { font: 'Helvetica, Arial, sans-serif', axis: { labelLimit: 420 }, legend: { labelLimit: 420 } }

function policiesChart(result: SuiteResult): TopLevelSpec {
  const sized = result.comparisons.filter((c): c is typeof c & { policies: number } => c.policies !== undefined)
  const values = sized.flatMap((c) => c.rows.map((r) => ({ policies: c.policies, library: r.library, p50: r.p50us })))
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: result.title, subtitle: `p50 latency per decision, log-log; ${result.machine.cpu} x${result.machine.cores}, Node ${result.machine.node}` },
    width: 560,
    height: 340,
    background: 'white',
    config: CONFIG,
    data: { values },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'policies', type: 'quantitative', scale: { type: 'log' }, title: 'policies in the set', axis: { values: sized.map((c) => c.policies) } },
      y: { field: 'p50', type: 'quantitative', scale: { type: 'log' }, title: 'p50 latency (µs)' },
      color: { field: 'library', type: 'nominal', title: null, legend: { orient: 'bottom', columns: 2 } },
    },
  }
}

function ratiosChart(result: SuiteResult): TopLevelSpec {
  const values = result.comparisons.flatMap((c) =>
    c.rows.slice(1).map((r) => ({ comparison: c.label, peer: r.library, ratio: Number(speedup(c, r).ops.toFixed(2)) })),
  )
  // One band per comparison, one bar per peer inside it.
  const bandY = {
    y: { field: 'comparison', type: 'nominal' as const, title: null, sort: null },
    yOffset: { field: 'peer', type: 'nominal' as const },
  }
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: result.title, subtitle: `kavach ops/s ÷ peer ops/s (right of 1 = kavach faster); ${result.machine.cpu} x${result.machine.cores}, Node ${result.machine.node}` },
    width: 520,
    background: 'white',
    config: CONFIG,
    data: { values },
    layer: [
      {
        mark: { type: 'bar' },
        encoding: {
          ...bandY,
          x: { field: 'ratio', type: 'quantitative', title: 'times faster than the peer' },
          color: { field: 'peer', type: 'nominal', title: null, legend: { orient: 'bottom' } },
        },
      },
      { mark: { type: 'text', align: 'left', dx: 3 }, encoding: { ...bandY, x: { field: 'ratio', type: 'quantitative' }, text: { field: 'ratio', type: 'quantitative', format: '.1f' } } },
      { data: { values: [{ one: 1 }] }, mark: { type: 'rule', strokeDash: [4, 3], color: 'gray' }, encoding: { x: { field: 'one', type: 'quantitative' } } },
    ],
  }
}

/** The suite's chart as an SVG document. */
export async function chartSvg(result: SuiteResult): Promise<string> {
  return render(result.chart === 'policies' ? policiesChart(result) : ratiosChart(result))
}
