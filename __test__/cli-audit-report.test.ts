// `kavach audit report`: the HTML file renders in headless Chromium with no network request
// and no console error; the chart (SVG bars), the top lists and the searchable table are
// there. Takes a screenshot; with KAVACH_WRITE_GENERATED=1 it is the one the README shows
// (docs/audit-report.png), so a test run leaves the tree as it was. A chain longer than the
// table holds is counted whole, and the page says how many entries its table leaves out.
// The CLI runs from its TypeScript sources (src/cli/main.ts through tsx).
import { existsSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

import { type BrowserContext, chromium } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'

import { AuditEntry, KavachKeyPair, SignedAuditChain } from '../index'
import { type CliResult, root, tempDir } from './fixtures/cli'
import { runTsx } from './fixtures/run-tsx'
import { tamperEntry } from './fixtures/tamper'

const CHROMIUM = '/usr/bin/chromium'
let browser: BrowserContext

/** `kavach ARGS`, run from the sources. */
async function kavach(args: string[]): Promise<CliResult> {
  const r = await runTsx('src/cli/main.ts', { args, killAfterMs: 120_000 })
  return { status: r.code, stdout: r.stdout, stderr: r.stderr }
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium package (.ci/run does)`)
  // A fresh profile directory (playwright passes it as --user-data-dir).
  browser = await chromium.launchPersistentContext(tempDir('chromium'), {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1180, height: 1000 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  })
}, 120_000)

afterAll(async () => {
  await browser?.close()
})

/** A chain of a support desk's day: permits and refusals of a few agents, then one bad entry (optionally). */
function writeChain(dir: string, tamper: boolean): { chain: string; bundle: string } {
  const kp = KavachKeyPair.generate()
  const chain = new SignedAuditChain(kp)
  const agents = ['agent-7', 'agent-9', 'agent-12', 'priya']
  const actions = ['issue_refund', 'report.monthly', 'customer.delete', 'issue_refund']
  const refusals = ['[NO_POLICY_MATCH] no policy permits it', '[RATE_LIMIT_EXCEEDED] rate limit of 3 per 24h exceeded', '[POLICY_DENIED] refused by policy never_delete_customers']
  for (let i = 0; i < 60; i++) {
    const refused = i % 3 === 0
    const action = actions[i % actions.length]!
    chain.append(AuditEntry.new(agents[i % agents.length]!, action, refused ? 'refuse' : 'permit', refused ? refusals[(i / 3) % refusals.length]! : `token-${i}`, { decidedBy: 'policy', resource: `order-${1000 + i}` }))
  }
  const paths = { chain: join(dir, 'chain.jsonl'), bundle: join(dir, 'key.public.json') }
  let jsonl = chain.exportJsonl().toString('utf8')
  if (tamper) jsonl = tamperEntry(jsonl, 7, 'token-7', 'token-8')
  writeFileSync(paths.chain, jsonl)
  writeFileSync(paths.bundle, kp.publicKeys().toJSON())
  return paths
}

describe('kavach audit report', () => {
  test('renders: status, chart, top lists, searchable table; no requests, no console errors', async () => {
    const dir = tempDir('report')
    const { chain, bundle } = writeChain(dir, false)
    const out = join(dir, 'report.html')
    const r = await kavach(['audit', 'report', chain, '--bundle', bundle, '--out', out])
    expect(r.status, r.stderr).toBe(0)
    expect(r.stdout).toBe(`report ${out}: 60 entries (chain verified)\n`)

    const page = await browser.newPage()
    const errors: string[] = []
    const requests: string[] = []
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text())
    })
    page.on('pageerror', (e) => errors.push(e.message))
    page.on('request', (req) => {
      if (!req.url().startsWith('file:')) requests.push(req.url())
    })
    await page.goto(`file://${out}`)
    await page.waitForSelector('body[data-chart="ready"]', { timeout: 20_000 })
    expect(await page.textContent('#status')).toBe('Chain verified: 60 entries, every signature and link intact.')
    // The chart: vega drew SVG bars (one path per bar/verdict stack segment).
    expect(await page.locator('#chart svg').count()).toBe(1)
    expect(await page.locator('#chart svg g.mark-rect path').count()).toBeGreaterThan(0)
    // Top refused actions: 20 refusals over the 4-action cycle at i % 3 === 0.
    const topActions = await page.locator('#top-actions li').allTextContents()
    expect(topActions.length).toBeGreaterThan(0)
    expect(await page.locator('#top-codes li').count()).toBe(3)
    // The table and its search.
    expect(await page.locator('#entries tbody tr').count()).toBe(60)
    expect(await page.textContent('#shown')).toBe('60 of 60 shown')
    await page.fill('#search', 'RATE_LIMIT')
    expect(await page.textContent('#shown')).toBe('7 of 60 shown')
    expect(await page.locator('#entries tbody tr:visible').count()).toBe(7)
    await page.fill('#search', '')
    const shot = process.env.KAVACH_WRITE_GENERATED === '1' ? join(root, 'docs/audit-report.png') : join(dir, 'report.png')
    await page.screenshot({ path: shot, fullPage: false })
    expect(existsSync(shot)).toBe(true)
    expect(errors).toEqual([])
    expect(requests).toEqual([])
    await page.close()
  })

  test('a tampered chain: the report says INVALID and names the entry; exit 1', async () => {
    const dir = tempDir('report-bad')
    const { chain, bundle } = writeChain(dir, true)
    const out = join(dir, 'report.html')
    const r = await kavach(['audit', 'report', chain, '--bundle', bundle, '--out', out])
    expect(r.status).toBe(1)
    const page = await browser.newPage()
    await page.goto(`file://${out}`)
    expect(await page.textContent('#status')).toMatch(/^Chain INVALID: .*entry 7/)
    await page.close()
  })

  test('--out naming the chain or the bundle (itself or through a symlink) is refused before anything is written; exit 1', async () => {
    const dir = tempDir('report-onto-input')
    const { chain, bundle } = writeChain(dir, false)
    const chainBefore = readFileSync(chain)
    const bundleBefore = readFileSync(bundle)
    const viaSymlink = join(dir, 'report.html')
    symlinkSync(chain, viaSymlink)
    for (const [out, message] of [
      [chain, `--out '${chain}' is the audit chain itself: writing it would destroy the audit chain; name another file`],
      [viaSymlink, `--out '${viaSymlink}' is the audit chain '${chain}' under another name: writing it would destroy the audit chain; name another file`],
      [bundle, `--out '${bundle}' is the bundle itself: writing it would destroy the bundle; name another file`],
    ] as const) {
      const r = await kavach(['audit', 'report', chain, '--bundle', bundle, '--out', out])
      expect(r.status, out).toBe(1)
      expect(r.stdout).toBe('')
      expect(r.stderr).toBe(`kavach [OUTPUT_IS_INPUT]: ${message}\n`)
    }
    // Without a bundle too (the chain is then read in chunks).
    const unverified = await kavach(['audit', 'report', chain, '--out', chain, '--json'])
    expect(unverified.status).toBe(1)
    expect((JSON.parse(unverified.stdout) as { error: { code: string } }).error.code).toBe('OUTPUT_IS_INPUT')
    expect(readFileSync(chain)).toEqual(chainBefore)
    expect(readFileSync(bundle)).toEqual(bundleBefore)
  }, 120_000)

  test('a chain of 12,345 entries: every entry counted, the latest 10,000 in the table, a note for the rest', async () => {
    const dir = tempDir('report-long')
    const chain = join(dir, 'chain.jsonl')
    const total = 12_345
    const t0 = Date.parse('2026-01-10T00:00:00Z')
    const verdicts = ['permit', 'refuse', 'invalidate']
    const lines = Array.from({ length: total }, (_, i) => {
      const verdict = verdicts[i % 3]!
      const entry = {
        timestamp: new Date(t0 + i * 34_000).toISOString(),
        principal_id: `agent-${i % 5}`,
        action_name: `action-${i % 4}`,
        verdict,
        verdict_detail: verdict === 'permit' ? `token-${i}` : `[${i % 2 === 0 ? 'RATE_LIMIT' : 'NO_POLICY_MATCH'}] reason`,
      }
      return JSON.stringify({ index: i, signed_payload: { data: [...Buffer.from(JSON.stringify(entry))] } })
    })
    lines.splice(5, 0, 'not json')
    writeFileSync(chain, `${lines.join('\n')}\n`)
    const out = join(dir, 'report.html')

    const json = await kavach(['audit', 'report', chain, '--out', out, '--json'])
    expect(json.status, json.stderr).toBe(0)
    expect(JSON.parse(json.stdout)).toMatchObject({ entries: total, shown: 10_000, unreadable: 1 })
    const text = await kavach(['audit', 'report', chain, '--out', out])
    expect(text.stdout).toBe(`report ${out}: 12345 entries, 1 entry could not be read, the table shows the latest 10000 of 12345 entries (2345 left out) (not verified)\n`)

    const html = readFileSync(out, 'utf8')
    expect(html).toContain('12345 entries · permit 4115 · refuse 4115 · invalidate 4115')
    expect(html).toContain('<p id="not-shown" class="unknown">the table shows the latest 10000 of 12345 entries (2345 left out); the counts, the chart and the top lists cover all 12345.</p>')
    const embedded = JSON.parse(/<script id="entries-data" type="application\/json">(.*?)<\/script>/s.exec(html)![1]!) as Array<{ index: number }>
    expect(embedded.length).toBe(10_000)
    expect([embedded[0]!.index, embedded.at(-1)!.index]).toEqual([2345, 12_344])
    // 8,230 refusals and invalidations, 4,115 per code.
    expect(html).toContain('<ol id="top-codes"><li><span>NO_POLICY_MATCH</span><b>4115</b></li><li><span>RATE_LIMIT</span><b>4115</b></li></ol>')
    // The chart's rows: one per day (the chain spans 4.9 days, over 5 dates) and verdict, counting every entry.
    const rows = JSON.parse(/<script id="chart-data" type="application\/json">(.*?)<\/script>/s.exec(html)![1]!) as Array<{ time: number; count: number }>
    expect(rows.reduce((n, r) => n + r.count, 0)).toBe(total)
    expect(new Set(rows.map((r) => r.time)).size).toBe(5)

    const page = await browser.newPage()
    const errors: string[] = []
    page.on('pageerror', (e) => errors.push(e.message))
    await page.goto(`file://${out}`)
    await page.waitForSelector('body[data-chart="ready"]', { timeout: 20_000 })
    expect(await page.isVisible('#not-shown')).toBe(true)
    expect(await page.locator('#chart svg g.mark-rect path').count()).toBe(15)
    expect(await page.locator('#entries tbody tr').count()).toBe(10_000)
    expect(await page.textContent('#shown')).toBe('10000 of 10000 shown')
    expect(errors).toEqual([])
    await page.close()
  }, 120_000)
})
