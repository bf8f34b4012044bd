// `kavach test`: the examples' policy unit tests pass (this is how `npm test` runs them), a
// failing case prints its explain trace and exits 1, and --junit writes JUnit XML.
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

import { beforeAll, describe, expect, test } from 'vitest'

import { readCases } from '../src/cli/cases'
import { UsageError } from '../src/cli/exit'
import { ensureBuilt, kavach, tempDir } from './fixtures/cli'
import { runTsx } from './fixtures/run-tsx'

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

  test("a 'now' that is neither text nor a date names its kind: readCases", async () => {
    const dir = tempDir('cases-now-kind')
    const context = { principalId: 'a', principalKind: 'agent', actionName: 'x' }
    for (const [now, kind] of [[{ toString: 1 }, 'object'], [[1], 'array'], [5, 'number'], [true, 'boolean'], [null, 'null']] as const) {
      const cases = join(dir, `c${Math.random().toString(36).slice(2)}.json`)
      writeFileSync(cases, JSON.stringify({ cases: [{ name: 'c', context, now, expect: 'refuse' }] }))
      await expect(readCases(cases), JSON.stringify(now)).rejects.toThrow(UsageError)
      await expect(readCases(cases), JSON.stringify(now)).rejects.toThrow(`case 'c': 'now' is not an ISO 8601 date-time`)
      await expect(readCases(cases), JSON.stringify(now)).rejects.toThrow(`: got ${kind}`)
    }
  })

  test('an unknown key in a cases file is a usage error naming it, with a hint (exit 2)', () => {
    const dir = tempDir('cases-strict')
    const ctx = 'context = { principalId = "a", principalKind = "agent", roles = ["support"], actionName = "issue_refund", params = { amount = 5 } }\n'
    const run = (text: string) => {
      const cases = join(dir, `c${Math.random().toString(36).slice(2)}.toml`)
      writeFileSync(cases, text)
      return kavach(['test', POLICY, '--cases', cases])
    }
    const cdoe = run(`[[case]]\nname = "typo"\n${ctx}expect = "refuse"\ncdoe = "RATE_LIMIT_EXCEEDED"\n`)
    expect(cdoe.status).toBe(2)
    expect(cdoe.stderr).toContain("case 'typo': unknown key 'cdoe' (expected one of name, context, contexts, expect, code, evaluator, now); did you mean 'code'?")
    const nwo = run(`[[case]]\nname = "typo"\n${ctx}expect = "permit"\nnwo = "2026-01-15T05:30:00Z"\n`)
    expect(nwo.status).toBe(2)
    expect(nwo.stderr).toContain("unknown key 'nwo'")
    expect(nwo.stderr).toContain("did you mean 'now'?")
    const both = run(`[[case]]\nname = "both"\n${ctx}contexts = [{ principalId = "a", principalKind = "agent", actionName = "x" }]\nexpect = "permit"\n`)
    expect(both.status).toBe(2)
    expect(both.stderr).toContain("case 'both': both 'context' and 'contexts'")
    const top = run(`[option]\nobserveOnly = true\n[[case]]\nname = "c"\n${ctx}expect = "permit"\n`)
    expect(top.status).toBe(2)
    expect(top.stderr).toContain("unknown key 'option' (expected one of cases, case, options); did you mean 'options'?")
  })

  describe("a case's 'now' and explain --now: ISO 8601 date-times only, UTC without an offset, whatever TZ is", () => {
    const dir = tempDir('cases-now')
    const policy = join(dir, 'office.toml')
    writeFileSync(policy, '[[policy]]\nname = "office_hours"\neffect = "permit"\nconditions = [{ action = "x" }, { time_window = "09:00-18:00" }]\n')
    const context = join(dir, 'ctx.json')
    writeFileSync(context, JSON.stringify({ principalId: 'a', principalKind: 'agent', actionName: 'x' }))
    const NY = { TZ: 'America/New_York' }
    const ctx = 'context = { principalId = "a", principalKind = "agent", actionName = "x" }\n'

    test('without an offset (a string or a TOML local date-time) it is UTC: 08:30 is outside 09:00-18:00 UTC', () => {
      const cases = join(dir, 'local.toml')
      writeFileSync(
        cases,
        [
          `[[case]]\nname = "string 08:30"\n${ctx}now = "2026-01-15T08:30:00"\nexpect = "refuse"\n`,
          `[[case]]\nname = "toml 08:30"\n${ctx}now = 2026-01-15T08:30:00\nexpect = "refuse"\n`,
          `[[case]]\nname = "string 09:30"\n${ctx}now = "2026-01-15T09:30:00"\nexpect = "permit"\n`,
          `[[case]]\nname = "offset 14:30+05:30 is 09:00 UTC"\n${ctx}now = "2026-01-15T14:30:00+05:30"\nexpect = "permit"\n`,
        ].join('\n'),
      )
      const r = kavach(['test', policy, '--cases', cases], NY)
      expect(r.stderr).toBe('')
      expect(r.stdout).toContain('4 passed, 0 failed')
      expect(r.status).toBe(0)
      expect(kavach(['explain', policy, '--context', context, '--now', '2026-01-15T08:30:00'], NY).status).toBe(1)
      expect(kavach(['explain', policy, '--context', context, '--now', '2026-01-15T09:30:00'], NY).status).toBe(0)
      expect(kavach(['explain', policy, '--context', context, '--now', '2026-01-15T04:30:00-05:00'], NY).status).toBe(0)
    })

    test('text that is not an ISO 8601 date-time is a usage error (exit 2)', () => {
      for (const now of ['Jan 15 2026 08:30', '2026-01-15', '2026-02-30T10:00:00Z', '2026-01-15 08:30:00Z']) {
        const r = kavach(['explain', policy, '--context', context, '--now', now], NY)
        expect(r.status, now).toBe(2)
        expect(r.stderr).toContain(`--now '${now}': not an ISO 8601 date-time`)
        const cases = join(dir, 'bad.json')
        writeFileSync(cases, JSON.stringify({ cases: [{ name: 'c', context: { principalId: 'a', principalKind: 'agent', actionName: 'x' }, now, expect: 'refuse' }] }))
        const t = kavach(['test', policy, '--cases', cases], NY)
        expect(t.status, now).toBe(2)
        expect(t.stderr).toContain(`case 'c': 'now' is not an ISO 8601 date-time`)
      }
      // A TOML date or time alone is no instant either.
      const cases = join(dir, 'toml-date.toml')
      writeFileSync(cases, `[[case]]\nname = "date"\n${ctx}now = 2026-01-15\nexpect = "refuse"\n`)
      expect(kavach(['test', policy, '--cases', cases], NY).status).toBe(2)
    })
  })

  test('--junit is well-formed XML whatever the names hold: noncharacters, lone surrogates, controls', () => {
    const dir = tempDir('cases-junit')
    const policy = join(dir, 'p.toml')
    writeFileSync(policy, '[[policy]]\nname = "p"\neffect = "refuse"\ndescription = "bad \\uFFFF desc \\u0008 \\uFFFE <b>"\nconditions = []\n')
    const cases = join(dir, 'cases.json')
    const ctx = { principalId: 'a', principalKind: 'agent', actionName: 'x' }
    const names = ['nonchar \uffff and \ufffe', 'ok ]]> </testcase> & \u0001 \u001b', 'lone \ud800 and \udfff surrogates', 'astral \u{1F600} kept']
    writeFileSync(cases, JSON.stringify({ cases: names.map((name) => ({ name, context: ctx, expect: 'permit' })) }))
    const junit = join(dir, 'junit.xml')
    expect(kavach(['test', policy, '--cases', cases, '--junit', junit]).status).toBe(1)
    const xml = readFileSync(junit, 'utf8')
    // No XML parser is installed: every character must be in XML 1.0's Char production, and
    // every '<' and '&' must start markup the writer put there (an element or a character reference).
    expect(xml).toMatch(/^[\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]*$/u)
    expect(xml.replace(/&#\d+;/g, '')).not.toContain('&')
    expect(xml).toContain('name="nonchar \ufffd and \ufffd"')
    expect(xml).toContain('name="lone \ufffd and \ufffd surrogates"')
    expect(xml).toContain('name="astral \u{1F600} kept"')
    // The control character is held escaped by the policy loader (`\u{8}`), the noncharacters
    // are replaced here.
    expect(xml).toContain('bad \ufffd desc \\u{8} \ufffd &#60;b&#62;')
  })

  test('case names and expectations reach the terminal with their control and invisible characters escaped (from the sources)', async () => {
    const dir = tempDir('cases-escapes')
    const policy = join(dir, 'p.json')
    writeFileSync(policy, JSON.stringify({ policies: [{ name: 'p', effect: 'refuse', conditions: [] }] }))
    const cases = join(dir, 'cases.json')
    const ctx = { principalId: 'a', principalKind: 'agent', actionName: 'x' }
    writeFileSync(
      cases,
      JSON.stringify({
        cases: [
          { name: 'ok\u001b[2K\rPASS everything is fine\u001b]0;x\u0007', context: ctx, expect: 'permit' },
          { name: 'hidden\u200bchar', context: ctx, expect: 'refuse', code: 'POLICY_DENIED\u001b[8m' },
          { name: 'n'.repeat(150), context: ctx, expect: 'refuse' },
        ],
      }),
    )
    const r = await runTsx('src/cli/main.ts', { args: ['test', policy, '--cases', cases], killAfterMs: 60_000 })
    expect(r.code, r.stderr).toBe(1)
    // Nothing a terminal acts on but the line ends.
    expect(r.stdout).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f\u200b]/)
    const lines = r.stdout.split('\n')
    expect(lines[0]).toBe('FAIL ok\\u{1b}[2K\\u{d}PASS everything is fine\\u{1b}]0;x\\u{7}')
    expect(lines).toContain('FAIL hidden\\u{200b}char')
    expect(r.stdout).toContain('     expected refuse POLICY_DENIED\\u{1b}[8m, got refuse POLICY_DENIED (policy)')
    // Cut as the cases file's errors cut a name.
    expect(lines).toContain(`PASS ${'n'.repeat(100)}… (150 characters)`)
    expect(r.stdout).toContain('1 passed, 2 failed')
  }, 90_000)

  test('--junit naming the cases file or a policy file is refused before anything is written; exit 1 (from the sources)', async () => {
    const dir = tempDir('cases-junit-onto-input')
    const policy = join(dir, 'p.json')
    const policyText = JSON.stringify({ policies: [{ name: 'p', effect: 'permit', conditions: [] }] })
    writeFileSync(policy, policyText)
    const cases = join(dir, 'cases.json')
    const casesText = JSON.stringify({ cases: [{ name: 'c', context: { principalId: 'a', principalKind: 'agent', actionName: 'x' }, expect: 'permit' }] })
    writeFileSync(cases, casesText)
    for (const [out, what] of [[cases, 'cases file'], [policy, 'policy file']] as const) {
      const r = await runTsx('src/cli/main.ts', { args: ['test', policy, '--cases', cases, '--junit', out], killAfterMs: 60_000 })
      expect(r.code, out).toBe(1)
      expect(r.stdout).toBe('')
      expect(r.stderr).toBe(`kavach [OUTPUT_IS_INPUT]: --junit '${out}' is the ${what} itself: writing it would destroy the ${what}; name another file\n`)
    }
    expect(readFileSync(cases, 'utf8')).toBe(casesText)
    expect(readFileSync(policy, 'utf8')).toBe(policyText)
  }, 90_000)

  describe('an unknown key of a megabyte: a short message, at once, with no suggestion', () => {
    const dir = tempDir('cases-long-key')
    const longKey = 'x'.repeat(1_000_000)
    const ctx = { principalId: 'a', principalKind: 'agent', actionName: 'x' }
    const inCase = join(dir, 'in-case.json')
    writeFileSync(inCase, JSON.stringify({ cases: [{ name: 'c', [longKey]: 1, expect: 'permit', context: ctx }] }))
    const atTop = join(dir, 'at-top.json')
    writeFileSync(atTop, JSON.stringify({ [longKey]: 1, cases: [{ name: 'c', expect: 'permit', context: ctx }] }))
    const shown = `unknown key '${'x'.repeat(100)}… (1000000 characters)'`

    const failure = async (file: string): Promise<{ message: string }> => {
      const e = await readCases(file).then(
        () => undefined,
        (err: unknown) => err as Error,
      )
      if (e === undefined) throw new Error(`${file} was accepted`)
      return { message: e.message }
    }

    test('in a case and at the top of the file: an excerpt of the key, no did-you-mean', async () => {
      for (const file of [inCase, atTop]) {
        const { message } = await failure(file)
        expect(message.length, file).toBeLessThan(500)
        expect(message).toContain(shown)
        // No suggestion is looked for: its edit distance over a megabyte key takes seconds.
        expect(message).not.toContain('did you mean')
      }
      expect((await failure(inCase)).message).toBe(`cases file '${inCase}': case 'c': ${shown} (expected one of name, context, contexts, expect, code, evaluator, now)`)
    })

    test('a near miss still gets its suggestion', async () => {
      const cdoe = join(dir, 'cdoe.json')
      writeFileSync(cdoe, JSON.stringify({ cases: [{ name: 'typo', context: ctx, expect: 'refuse', cdoe: 'X' }] }))
      expect((await failure(cdoe)).message).toBe(`cases file '${cdoe}': case 'typo': unknown key 'cdoe' (expected one of name, context, contexts, expect, code, evaluator, now); did you mean 'code'?`)
      const opitons = join(dir, 'opitons.json')
      writeFileSync(opitons, JSON.stringify({ opitons: {}, cases: [{ name: 'c', context: ctx, expect: 'permit' }] }))
      expect((await failure(opitons)).message).toContain("unknown key 'opitons' (expected one of cases, case, options); did you mean 'options'?")
    })

    test('the CLI (from the sources) prints the short message and exits 2', async () => {
      const policy = join(dir, 'p.json')
      writeFileSync(policy, JSON.stringify({ policies: [{ name: 'p', effect: 'permit', conditions: [] }] }))
      const r = await runTsx('src/cli/main.ts', { args: ['test', policy, '--cases', inCase], killAfterMs: 60_000 })
      expect(r.code, r.stderr).toBe(2)
      expect(r.stderr.length).toBeLessThan(500)
      expect(r.stderr).toContain(shown)
    }, 90_000)
  })
})
