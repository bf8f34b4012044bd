// `kavach test`: the examples' policy unit tests pass (this is how `npm test` runs them), a
// failing case prints its explain trace and exits 1, and --junit writes JUnit XML.
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

import { beforeAll, describe, expect, test } from 'vitest'

import { ensureBuilt, kavach, tempDir } from './fixtures/cli'

const POLICY = 'examples/policies/support.toml'
const CASES = 'examples/policies/support.cases.toml'

beforeAll(ensureBuilt, 120_000)

describe('kavach test', () => {
  test('examples/policies: every case passes (exit 0)', () => {
    const r = kavach(['test', POLICY, '--cases', CASES])
    expect(r.stderr).toBe('')
    expect(r.status, r.stdout).toBe(0)
    expect(r.stdout).toContain('PASS the fourth refund in a day is rate limited')
    expect(r.stdout).toContain('7 passed, 0 failed')
  })

  test('a failing case shows expected vs. got and the explain trace; --junit records it; exit 1', () => {
    const dir = tempDir('cases')
    const cases = join(dir, 'cases.json')
    const junit = join(dir, 'junit.xml')
    writeFileSync(
      cases,
      JSON.stringify({
        cases: [
          { name: 'refund 500', expect: 'permit', context: { principalId: 'a', principalKind: 'agent', roles: ['support'], actionName: 'issue_refund', params: { amount: 500 } } },
          { name: 'wrongly expects 1,200 <to> pass & "work"', expect: 'permit', context: { principalId: 'a', principalKind: 'agent', roles: ['support'], actionName: 'issue_refund', params: { amount: 1200 } } },
        ],
      }),
    )
    const r = kavach(['test', POLICY, '--cases', cases, '--junit', junit])
    expect(r.status).toBe(1)
    expect(r.stdout).toContain('PASS refund 500')
    expect(r.stdout).toContain('FAIL wrongly expects 1,200')
    expect(r.stdout).toContain('expected permit, got refuse NO_POLICY_MATCH (policy)')
    // The trace: the refunds policy failed on its param_max with the values compared.
    expect(r.stdout).toMatch(/FAIL param_max\s+amount 1200 > max 1000/)
    expect(r.stdout).toContain('1 passed, 1 failed')
    const xml = readFileSync(junit, 'utf8')
    expect(xml).toContain('<testsuite name="kavach cases.json" tests="2" failures="1"')
    expect(xml).toContain('name="wrongly expects 1,200 &#60;to&#62; pass &#38; &#34;work&#34;"')
    expect(xml).toContain('<failure message="expected permit, got refuse NO_POLICY_MATCH (policy): no policy permits')
  })

  test('--json lists each case', () => {
    const r = kavach(['test', POLICY, '--cases', CASES, '--json'])
    expect(r.status).toBe(0)
    const out = JSON.parse(r.stdout) as { passed: number; failed: number; cases: Array<{ name: string; passed: boolean }> }
    expect(out.passed).toBe(7)
    expect(out.cases.every((c) => c.passed)).toBe(true)
  })

  test('a malformed cases file is a usage error naming the case (exit 2)', () => {
    const dir = tempDir('cases-bad')
    const cases = join(dir, 'cases.toml')
    writeFileSync(cases, '[[case]]\nname = "no context"\nexpect = "permit"\n')
    const r = kavach(['test', POLICY, '--cases', cases])
    expect(r.status).toBe(2)
    expect(r.stderr).toContain("case 'no context': needs 'context'")
  })
})
