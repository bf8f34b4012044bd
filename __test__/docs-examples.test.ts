// The README's and docs' TypeScript examples, as a user copies them: each one that imports
// 'kavach-sdk' is written to a file inside the package (so the import resolves to the built
// package, as it would for a user), type-checked with the project's TypeScript in strict mode,
// and run with tsx unless it waits for clients or needs a network service; a run must exit 0
// and print, call by call, what the `// ...` comment of each `console.log` says
// (__test__/fixtures/docs-examples.ts has the rules).

import { spawnSync } from 'node:child_process'
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'

import { afterAll, beforeAll, describe, expect, test } from 'vitest'

import { docExamples, expectedPart, printedAsStated, type DocExample } from './fixtures/docs-examples'
import { runTsx } from './fixtures/run-tsx'

const ROOT = join(__dirname, '..')
const DIR = join(ROOT, '.vitest-docs-examples')
const DOCS = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)]
const EXAMPLES = docExamples(ROOT, DOCS)
const RECORDER = join(__dirname, 'fixtures', 'record-console.mjs')

const fileOf = (e: DocExample): string => join(DIR, `${e.where.replace(/[/.:]/g, '_')}.mts`)

beforeAll(() => {
  rmSync(DIR, { recursive: true, force: true })
  mkdirSync(DIR)
  for (const e of EXAMPLES) writeFileSync(fileOf(e), `// ${e.where}\n${e.code}\n`)
  const compilerOptions = { target: 'ES2022', module: 'nodenext', moduleResolution: 'nodenext', lib: ['ES2022'], types: ['node'], strict: true, noEmit: true, skipLibCheck: true }
  writeFileSync(join(DIR, 'tsconfig.json'), JSON.stringify({ compilerOptions, include: ['*.mts'] }))
})
afterAll(() => rmSync(DIR, { recursive: true, force: true }))

describe('the comment rules', () => {
  test('what a comment states, and how printed output is matched', () => {
    expect(expectedPart("NO_POLICY_MATCH (the function did not run)")).toBe('NO_POLICY_MATCH')
    expect(expectedPart('true: the handler did not run')).toBe('true')
    expect(expectedPart("{ status: 'refunded', amount: 500 } (then more)")).toBe("{ status: 'refunded', amount: 500 }")
    expect(printedAsStated("'permit'", { raw: 'permit', inspected: "'permit'" })).toBe(true)
    expect(printedAsStated("{ code: 'X', reason: '...' }", { raw: `{ code: 'X', reason: "it's" }`, inspected: '' })).toBe(true)
    expect(printedAsStated("{ code: 'X', reason: '...' }", { raw: `{ code: 'Y', reason: 'r' }`, inspected: '' })).toBe(false)
    expect(printedAsStated('permit true', { raw: 'permit false', inspected: "'permit' false" })).toBe(false)
  })
})

describe('README and docs examples', () => {
  test('the examples are found, and most of them run', () => {
    expect(EXAMPLES.length).toBeGreaterThanOrEqual(10)
    expect(EXAMPLES.filter((e) => e.notRun === undefined).length).toBeGreaterThanOrEqual(5)
    expect(EXAMPLES.map((e) => e.where)).toContain('README.md:33')
  })

  test('every example type-checks against the package (strict)', () => {
    const tsc = createRequire(join(ROOT, 'package.json')).resolve('typescript/bin/tsc')
    const r = spawnSync(process.execPath, [tsc, '-p', join(DIR, 'tsconfig.json')], { encoding: 'utf8', cwd: ROOT })
    expect(r.stdout + r.stderr).toBe('')
    expect(r.status).toBe(0)
  }, 120_000)

  for (const e of EXAMPLES.filter((x) => x.notRun === undefined)) {
    test(`${e.where} runs and prints what its comments say`, async () => {
      const r = await runTsx(fileOf(e), { nodeArgs: ['--import', RECORDER], killAfterMs: 60_000 })
      expect(r.stderr).toBe('')
      expect(r.code).toBe(0)
      const printed = r.stdout.trim().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { raw: string; inspected: string })
      // Every console.log of a runnable example states its output.
      expect(e.expected.length).toBe(e.logCalls)
      expect(printed.length).toBe(e.expected.length)
      e.expected.forEach((want, i) => {
        expect(printedAsStated(want, printed[i]!), `${e.where}: call ${i + 1} printed ${printed[i]!.raw}, the comment says ${want}`).toBe(true)
      })
    }, 90_000)
  }
})
