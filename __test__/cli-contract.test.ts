// The CLI's contract on every command, on the built binary: `--help` (exit 0, lists `--json`),
// usage errors (exit 2, and with `--json` a JSON error on stdout), failures (exit 1, JSON error
// with the error's code), and `kavach convert --json`.
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

import { beforeAll, describe, expect, test } from 'vitest'

import { Gate } from '../index'
import { ensureBuilt, kavach, tempDir } from './fixtures/cli'

const EXAMPLE = 'examples/policies/support.toml'

beforeAll(ensureBuilt, 120_000)

/** The command names a `--help` output lists under `Commands:`. */
function listedCommands(help: string): string[] {
  const section = help.split('Commands:')[1] ?? ''
  return [...section.matchAll(/^ {2}(\w+)/gm)].map((m) => m[1]!).filter((c) => c !== 'help')
}

/** Every runnable command, found from the help the binary prints (groups expanded). */
function allCommands(): string[][] {
  const out: string[][] = []
  for (const cmd of listedCommands(kavach(['--help']).stdout)) {
    const subs = listedCommands(kavach([cmd, '--help']).stdout)
    if (subs.length === 0) out.push([cmd])
    else for (const sub of subs) out.push([cmd, sub])
  }
  return out
}

interface JsonError {
  ok: false
  error: { code: string; message: string }
}

describe('every command', () => {
  const commands = allCommands()

  test('the help lists the commands of the issue', () => {
    expect(commands.map((c) => c.join(' ')).sort()).toEqual(['audit report', 'audit verify', 'check', 'convert', 'explain', 'keygen', 'lint', 'manifest sign', 'test'])
  })

  test('has --help (exit 0) offering --json', () => {
    for (const cmd of commands) {
      const r = kavach([...cmd, '--help'])
      expect(r.status, cmd.join(' ')).toBe(0)
      expect(r.stdout, cmd.join(' ')).toContain(`Usage: kavach ${cmd.join(' ')}`)
      expect(r.stdout, cmd.join(' ')).toContain('--json')
    }
  })

  test('a usage error exits 2; with --json it is also a JSON error on stdout', () => {
    for (const cmd of commands) {
      const r = kavach([...cmd, '--no-such-option', '--json'])
      expect(r.status, cmd.join(' ')).toBe(2)
      // Commander reports the first problem: a missing required option or the unknown one.
      const out = JSON.parse(r.stdout) as JsonError
      expect(out.ok, cmd.join(' ')).toBe(false)
      expect(out.error.code, cmd.join(' ')).toBe('USAGE')
      expect(out.error.message, cmd.join(' ')).toMatch(/^(unknown option '--no-such-option'|required option '.+' not specified|missing required argument '.+')$/)
      expect(r.stderr.split('\n')[0], cmd.join(' ')).toBe(`error: ${out.error.message}`)
    }
    const plain = kavach(['convert', EXAMPLE, '--to', 'yaml'])
    expect(plain.status).toBe(2)
    expect(plain.stdout).toBe('')
  })

  test('a failure exits 1; with --json a JSON error carrying the error code', () => {
    const dir = tempDir('contract')
    const bad = join(dir, 'bad.toml')
    writeFileSync(bad, '[[policy]]\nname = "x"\neffect = "allow"\nconditions = []\n')
    for (const args of [
      ['convert', bad, '--to', 'json'],
      ['explain', bad, '--context', join(dir, 'missing.json')],
    ]) {
      const r = kavach([...args, '--json'])
      expect(r.status, args.join(' ')).toBe(args[0] === 'explain' ? 2 : 1)
      const out = JSON.parse(r.stdout) as JsonError
      expect(out.ok).toBe(false)
      expect(out.error.code).toBe(args[0] === 'explain' ? 'USAGE' : 'POLICY_PARSE')
      expect(r.stderr).toContain(out.error.message)
    }
    const missing = kavach(['audit', 'verify', join(dir, 'nope.jsonl'), '--bundle', join(dir, 'nope.json'), '--json'])
    expect(missing.status).toBe(1)
    // The SDK's own code for a file it cannot read (IoError), the system's reason in the message.
    expect((JSON.parse(missing.stdout) as JsonError).error).toMatchObject({ code: 'IO', message: expect.stringMatching(/audit chain '.*nope\.jsonl': ENOENT/) })
  })

  test('--json results carry ok', () => {
    const ctx = join(tempDir('contract-ok'), 'ctx.json')
    writeFileSync(ctx, JSON.stringify({ principalId: 'agent-7', principalKind: 'agent', roles: ['support'], actionName: 'issue_refund', params: { amount: 1200 } }))
    const explained = kavach(['explain', EXAMPLE, '--context', ctx, '--json'])
    expect(explained.status).toBe(1)
    expect(JSON.parse(explained.stdout)).toMatchObject({ ok: false, verdict: { kind: 'refuse', code: 'NO_POLICY_MATCH' } })
    const linted = kavach(['lint', EXAMPLE, '--json'])
    expect(linted.status).toBe(0)
    expect(JSON.parse(linted.stdout)).toMatchObject({ ok: true, policies: 4, warnings: 0 })
  })
})

describe('kavach convert --json', () => {
  test('the converted text in output, round-trip safe, exit 0', () => {
    for (const to of ['json', 'toml'] as const) {
      const r = kavach(['convert', EXAMPLE, '--to', to, '--json'])
      expect(r.status, r.stderr).toBe(0)
      const out = JSON.parse(r.stdout) as { ok: boolean; file: string; to: string; output: string }
      expect(out).toMatchObject({ ok: true, file: EXAMPLE, to })
      const gate = to === 'json' ? Gate.fromJsonString(out.output) : Gate.fromToml(out.output)
      expect(gate.policyCount).toBe(4)
      // The human form prints exactly the same text.
      expect(kavach(['convert', EXAMPLE, '--to', to]).stdout).toBe(out.output)
    }
  })

  test('with --out the file is written and the JSON names it', () => {
    const out = join(tempDir('convert-json'), 'support.json')
    const r = kavach(['convert', EXAMPLE, '--to', 'json', '--out', out, '--json'])
    expect(r.status, r.stderr).toBe(0)
    expect(JSON.parse(r.stdout)).toEqual({ ok: true, file: EXAMPLE, to: 'json', out })
    expect(Gate.fromJsonString(readFileSync(out, 'utf8')).policyCount).toBe(4)
  })
})
