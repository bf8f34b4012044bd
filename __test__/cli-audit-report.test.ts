// `kavach audit report`: the HTML file renders in headless Chromium with no network request
// and no console error; the chart (SVG bars), the top lists and the searchable table are
// there. Takes a screenshot; with KAVACH_WRITE_GENERATED=1 it is the one the README shows
// (docs/audit-report.png), so a test run leaves the tree as it was.
import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

import { type BrowserContext, chromium } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'

import { AuditEntry, KavachKeyPair, SignedAuditChain } from '../index'
import { ensureBuilt, kavach, root, tempDir } from './fixtures/cli'
import { tamperEntry } from './fixtures/tamper'

const CHROMIUM = '/usr/bin/chromium'
let browser: BrowserContext

beforeAll(async () => {
  ensureBuilt()
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
    const r = kavach(['audit', 'report', chain, '--bundle', bundle, '--out', out])
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
    const r = kavach(['audit', 'report', chain, '--bundle', bundle, '--out', out])
    expect(r.status).toBe(1)
    const page = await browser.newPage()
    await page.goto(`file://${out}`)
    expect(await page.textContent('#status')).toMatch(/^Chain INVALID: .*entry 7/)
    await page.close()
  })
})
