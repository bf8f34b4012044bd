// The audit report as one self-contained HTML file: the chart runtime (vega), the data and
// the page script are inlined, so opening it makes no network request.

import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'

import { type ReadEntries, VERDICTS, top } from './audit-entries.js'
import type { ChainStatus } from './audit-verify.js'

export interface ReportInput {
  chain: string
  status: ChainStatus | undefined
  /** The chain's counts and its latest entries (readEntries). */
  read: ReadEntries
}

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

/** JSON safe inside a <script> element. */
function scriptJson(v: unknown): string {
  return JSON.stringify(v).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029')
}

/** The chart's rows: a count per time bucket and verdict, over the whole chain. */
function chartRows(read: ReadEntries): Array<{ time: number; verdict: string; count: number }> {
  return read.buckets.flatMap((b) => VERDICTS.filter((v) => b.counts[v] > 0).map((v) => ({ time: b.start, verdict: v, count: b.counts[v] })))
}

/**
 * Verdicts over time: a stacked bar per time bucket, coloured by verdict (vega-lite). The
 * buckets are counted in UTC (readEntries), so the chart's time units are UTC too.
 */
async function chartSpec(bucketMs: number): Promise<unknown> {
  const { compile } = await import('vega-lite')
  const unit = bucketMs >= 86_400_000 ? 'utcyearmonthdate' : bucketMs >= 3_600_000 ? 'utcyearmonthdatehours' : 'utcyearmonthdatehoursminutes'
  const lite = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    width: 760,
    height: 220,
    data: { name: 'verdicts' },
    mark: 'bar',
    encoding: {
      x: { timeUnit: unit, field: 'time', type: 'temporal', title: 'time (UTC)', axis: { labelAngle: 0 } },
      y: { aggregate: 'sum', field: 'count', type: 'quantitative', title: 'verdicts' },
      color: {
        field: 'verdict',
        type: 'nominal',
        scale: { domain: ['permit', 'refuse', 'invalidate'], range: ['#2e7d32', '#c62828', '#ef6c00'] },
      },
    },
    config: { timeFormat: '%H:%M', view: { stroke: null } },
  }
  return compile(lite as never).spec
}

function topList(title: string, rows: Array<[string, number]>, id: string): string {
  const items = rows.length === 0 ? '<li class="none">none</li>' : rows.map(([k, n]) => `<li><span>${esc(k)}</span><b>${n}</b></li>`).join('')
  return `<section class="top"><h2>${esc(title)}</h2><ol id="${id}">${items}</ol></section>`
}

/** `N entries could not be read`, for the page and the command's output. */
export function unreadableText(n: number): string {
  return `${n} ${n === 1 ? 'entry' : 'entries'} could not be read`
}

/** `the table shows the latest N of M entries`, for the page and the command's output. */
export function notShownText(total: number, shown: number): string {
  return `the table shows the latest ${shown} of ${total} entries (${total - shown} left out)`
}

export async function reportHtml(input: ReportInput): Promise<string> {
  const { status, read } = input
  const { entries, total, unreadable } = read
  const statusHtml =
    status === undefined
      ? '<p id="status" class="unknown">Chain not verified (no --bundle given).</p>'
      : status.ok
        ? `<p id="status" class="ok">Chain verified: ${status.entries} entries, every signature and link intact.</p>`
        : `<p id="status" class="bad">Chain INVALID: ${esc(status.error ?? '')}</p>`
  const counts = VERDICTS.map((k) => `${k} ${read.verdicts[k]}`).join(' · ')
  // The browser bundle sits next to the package entry (build/); `exports` does not list it.
  const vega = readFileSync(join(dirname(require.resolve('vega')), 'vega.min.js'), 'utf8').replace(/<\/script/gi, '<\\/script')
  const spec = await chartSpec(read.bucketMs)
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; img-src data:">
<title>Kavach audit report: ${esc(input.chain)}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1100px;color:#222;padding:0 16px}
h1{font-size:20px;margin:0 0 4px}h2{font-size:15px;margin:18px 0 6px}
#status{padding:8px 12px;border-radius:6px;font-weight:600}.ok{background:#e8f5e9;color:#1b5e20}.bad{background:#ffebee;color:#b71c1c}.unknown{background:#fff8e1;color:#8d6e00}
.tops{display:flex;gap:24px;flex-wrap:wrap}.top{flex:1;min-width:220px}.top ol{padding-left:20px;margin:0}.top li span{display:inline-block;min-width:160px}
table{border-collapse:collapse;width:100%;font-size:13px}th,td{border-bottom:1px solid #e0e0e0;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#f5f5f5;position:sticky;top:0}tr.refuse td.v{color:#c62828}tr.invalidate td.v{color:#ef6c00}tr.permit td.v{color:#2e7d32}
#search{width:320px;padding:6px 8px;margin:6px 0;font:inherit}
</style></head><body>
<h1>Audit report</h1>
<p>${esc(input.chain)} · ${total} entries · ${counts}</p>
${statusHtml}
${unreadable === 0 ? '' : `<p id="unreadable" class="bad">${unreadableText(unreadable)}: they are not in the chart, the lists or the table.</p>`}
${entries.length === total ? '' : `<p id="not-shown" class="unknown">${notShownText(total, entries.length)}; the counts, the chart and the top lists cover all ${total}.</p>`}
<h2>Verdicts over time</h2>
<div id="chart"></div>
<div class="tops">
${topList('Top refused actions', top(read.refused.actions, 10), 'top-actions')}
${topList('Top refused principals', top(read.refused.principals, 10), 'top-principals')}
${topList('Top refuse codes', top(read.refused.codes, 10), 'top-codes')}
</div>
<h2>Entries</h2>
<input id="search" type="search" placeholder="Filter entries (any column)" aria-label="filter entries">
<span id="shown"></span>
<table id="entries"><thead><tr><th>#</th><th>time (UTC)</th><th>principal</th><th>action</th><th>resource</th><th>verdict</th><th>detail</th><th>decided by</th></tr></thead><tbody></tbody></table>
<script id="entries-data" type="application/json">${scriptJson(entries)}</script>
<script id="chart-data" type="application/json">${scriptJson(chartRows(read))}</script>
<script id="chart-spec" type="application/json">${scriptJson(spec)}</script>
<script>${vega}</script>
<script>
(function () {
  var entries = JSON.parse(document.getElementById('entries-data').textContent);
  var spec = JSON.parse(document.getElementById('chart-spec').textContent);
  var rows = JSON.parse(document.getElementById('chart-data').textContent);
  var view = new vega.View(vega.parse(spec), { renderer: 'svg', container: '#chart', hover: true });
  view.data('verdicts', rows).runAsync().then(function () { document.body.setAttribute('data-chart', 'ready'); });
  var body = document.querySelector('#entries tbody');
  var cols = ['index', 'timestamp', 'principal', 'action', 'resource', 'verdict', 'detail', 'decidedBy'];
  entries.forEach(function (e) {
    var tr = document.createElement('tr');
    tr.className = e.verdict;
    cols.forEach(function (c) {
      var td = document.createElement('td');
      td.textContent = e[c] === null ? '' : String(e[c]);
      if (c === 'verdict') td.className = 'v';
      tr.appendChild(td);
    });
    body.appendChild(tr);
  });
  var shown = document.getElementById('shown');
  function filter() {
    var q = document.getElementById('search').value.toLowerCase();
    var n = 0;
    Array.prototype.forEach.call(body.rows, function (tr) {
      var hit = q === '' || tr.textContent.toLowerCase().indexOf(q) >= 0;
      tr.style.display = hit ? '' : 'none';
      if (hit) n++;
    });
    shown.textContent = n + ' of ' + entries.length + ' shown';
  }
  document.getElementById('search').addEventListener('input', filter);
  filter();
})();
</script>
</body></html>
`
}
