// `kavach check`, `kavach convert` and the CLI's usage contract (help, exit codes), run on the
// built binary.
import { linkSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

import { beforeAll, describe, expect, test } from 'vitest'

import { ensureBuilt, kavach, tempDir } from './fixtures/cli'
import { runTsx } from './fixtures/run-tsx'

const EXAMPLE = 'examples/policies/support.toml'

beforeAll(ensureBuilt, 120_000)

describe('kavach usage', () => {
  test('--help lists the commands and exits 0', () => {
    const r = kavach(['--help'])
    expect(r.status).toBe(0)
    for (const cmd of ['check', 'explain', 'convert', 'keygen', 'manifest', 'audit', 'test']) expect(r.stdout).toContain(cmd)
  })

  test('each command has --help', () => {
    for (const cmd of [['check'], ['explain'], ['convert'], ['keygen'], ['manifest', 'sign'], ['audit', 'verify'], ['test']]) {
      const r = kavach([...cmd, '--help'])
      expect(r.status, cmd.join(' ')).toBe(0)
      expect(r.stdout).toContain('Usage: kavach')
    }
  })

  test('usage errors exit 2 and say what is wrong', () => {
    const unknown = kavach(['frobnicate'])
    expect(unknown.status).toBe(2)
    expect(unknown.stderr).toContain("unknown command 'frobnicate'")
    const missing = kavach(['convert', EXAMPLE])
    expect(missing.status).toBe(2)
    expect(missing.stderr).toContain('--to')
    const badChoice = kavach(['convert', EXAMPLE, '--to', 'yaml'])
    expect(badChoice.status).toBe(2)
    expect(badChoice.stderr).toContain('yaml')
  })
})

describe('kavach check', () => {
  test('a good file: ok, its policy count, exit 0 (human and --json)', () => {
    const r = kavach(['check', EXAMPLE])
    expect(r.status).toBe(0)
    expect(r.stdout).toBe(`ok     ${EXAMPLE} (4 policies)\n`)
    const j = kavach(['check', EXAMPLE, '--json'])
    expect(j.status).toBe(0)
    expect(JSON.parse(j.stdout)).toEqual({ ok: true, files: [{ file: EXAMPLE, ok: true, policies: 4 }] })
  })

  test('every bad file is reported with policy, key, line and column; exit 1', () => {
    const dir = tempDir('check')
    const schema = join(dir, 'schema.toml')
    writeFileSync(schema, ['[[policy]]', 'name = "ok"', 'effect = "permit"', 'conditions = []', '', '[[policy]]', 'name = "refunds"', 'effect = "permit"', 'conditions = [', '  { action = "issue_refund" },', '  { param_max = { field = "amount", maximum = 10 } },', ']', ''].join('\n'))
    const syntax = join(dir, 'syntax.toml')
    writeFileSync(syntax, '[[policy]]\nname = "x"\neffect = = "permit"\n')
    const json = join(dir, 'bad.json')
    writeFileSync(json, JSON.stringify({ policies: [{ name: 'j', effect: 'allow', conditions: [] }] }))
    const r = kavach(['check', EXAMPLE, schema, syntax, json, '--json'])
    expect(r.status).toBe(1)
    const out = JSON.parse(r.stdout) as { ok: boolean; files: Array<{ file: string; ok: boolean; error?: Record<string, unknown> }> }
    expect(out.ok).toBe(false)
    expect(out.files.map((f) => f.ok)).toEqual([true, false, false, false])
    const [, s, y, j] = out.files
    expect(s!.error).toMatchObject({ code: 'POLICY_PARSE', policy: 'refunds', line: 11, column: 3 })
    expect(String(s!.error!.message)).toContain("policy 'refunds'")
    expect(String(s!.error!.message)).toContain('maximum')
    expect(y!.error).toMatchObject({ code: 'POLICY_PARSE', line: 3 })
    expect(j!.error).toMatchObject({ code: 'POLICY_PARSE', policy: 'j' })
    const human = kavach(['check', schema])
    expect(human.status).toBe(1)
    expect(human.stdout).toMatch(new RegExp(`^error  ${schema.replace(/[/\\.]/g, '\\$&')}:11:3: policy 'refunds'.*\\[POLICY_PARSE\\]\\n$`))
  })

  test('an unreadable file is an error naming it', () => {
    const r = kavach(['check', 'no/such/file.toml'])
    expect(r.status).toBe(1)
    expect(r.stdout).toMatch(/^error {2}no\/such\/file\.toml: cannot read policy file 'no\/such\/file\.toml': ENOENT.*\[IO\]\n$/)
  })
})

describe('kavach convert', () => {
  test('TOML → JSON → TOML gives the same policy set (round trip)', () => {
    const dir = tempDir('convert')
    const json = join(dir, 'support.json')
    const back = join(dir, 'support.toml')
    expect(kavach(['convert', EXAMPLE, '--to', 'json', '--out', json]).status).toBe(0)
    const doc = JSON.parse(readFileSync(json, 'utf8')) as { policy: Array<{ name: string; conditions: unknown[] }> }
    expect(doc.policy.map((p) => p.name)).toEqual(['never_delete_customers', 'agent_small_refunds', 'supervisor_refunds_office_hours', 'reports_for_staff'])
    expect(doc.policy[1]!.conditions).toContainEqual({ param_max: { field: 'amount', max: 1000 } })
    expect(kavach(['convert', json, '--to', 'toml', '--out', back]).status).toBe(0)
    const again = kavach(['convert', back, '--to', 'json'])
    expect(again.status).toBe(0)
    expect(JSON.parse(again.stdout)).toEqual(doc)
    expect(kavach(['check', json, back]).status).toBe(0)
  })

  test('--out naming the input file (itself or a hard link) is refused before anything is written; exit 1 (from the sources)', async () => {
    const dir = tempDir('convert-onto-input')
    const input = join(dir, 'p.toml')
    const text = '[[policy]]\nname = "p"\neffect = "permit"\nconditions = [{ action = "x" }]\n'
    writeFileSync(input, text)
    const viaLink = join(dir, 'p.json')
    linkSync(input, viaLink)
    for (const [out, message] of [
      [input, `--out '${input}' is the policy file itself: writing it would destroy the policy file; name another file`],
      [viaLink, `--out '${viaLink}' is the policy file '${input}' under another name: writing it would destroy the policy file; name another file`],
    ] as const) {
      const r = await runTsx('src/cli/main.ts', { args: ['convert', input, '--to', 'json', '--out', out], killAfterMs: 60_000 })
      expect(r.code, out).toBe(1)
      expect(r.stdout).toBe('')
      expect(r.stderr).toBe(`kavach [OUTPUT_IS_INPUT]: ${message}\n`)
    }
    expect(readFileSync(input, 'utf8')).toBe(text)
  }, 90_000)

  test('a file that does not load is not converted (exit 1, located error)', () => {
    const dir = tempDir('convert-bad')
    const bad = join(dir, 'bad.toml')
    writeFileSync(bad, '[[policy]]\nname = "p"\neffect = "permit"\nconditions = [{ acton = "x" }]\n')
    const r = kavach(['convert', bad, '--to', 'json'])
    expect(r.status).toBe(1)
    expect(r.stdout).toBe('')
    expect(r.stderr).toContain(`${bad}:4:1: policy 'p'`)
  })
})
