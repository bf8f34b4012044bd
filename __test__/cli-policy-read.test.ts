// Every CLI command reads a policy file exactly as the runtime does (`Gate.fromFile`: regular
// files only, strict UTF-8, a byte-order mark dropped, integers read exactly), run on the built
// binary. Each result is compared with what the runtime itself answers for the same file.
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

import { beforeAll, describe, expect, test } from 'vitest'

import { Gate } from '../index'
import { BIN, ensureBuilt, root, tempDir, type CliResult } from './fixtures/cli'

const EXAMPLE = join(root, 'examples/policies/support.toml')

beforeAll(ensureBuilt, 120_000)

/** The CLI with a deadline: a read that blocks (a FIFO) fails the test instead of hanging it. */
function kavach(args: string[]): CliResult {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: root, encoding: 'utf8', timeout: 20_000 })
  if (r.error !== undefined) throw r.error
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

/** What the runtime answers for `file`: its policy count, or its error's code and message. */
function runtime(file: string): { policies: number } | { code: string; message: string } {
  try {
    return { policies: Gate.fromFile(file).policyCount }
  } catch (e) {
    return { code: (e as { code: string }).code, message: (e as Error).message }
  }
}

const policy = (name: string, extra = ''): string => `[[policy]]\nname = "${name}"\neffect = "permit"\n${extra}conditions = [{ action = "read" }]\n`

describe('files the runtime refuses to read', () => {
  const dir = tempDir('read')
  const files: Record<string, string> = {
    // A Latin-1 "café" in a description: a lossy reader would accept it as "caf\uFFFD".
    latin1: join(dir, 'latin1.toml'),
    leadingGarbage: join(dir, 'garbage.toml'),
    fifo: join(dir, 'fifo.toml'),
    directory: join(dir, 'adir.toml'),
    device: '/dev/null',
    missing: join(dir, 'missing.toml'),
  }
  beforeAll(() => {
    writeFileSync(files.latin1!, Buffer.concat([Buffer.from('[[policy]]\nname = "p"\ndescription = "caf'), Buffer.from([0xe9]), Buffer.from('"\neffect = "permit"\nconditions = [{ action = "read" }]\n')]))
    writeFileSync(files.leadingGarbage!, Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('[[policy]]\n')]))
    execFileSync('mkfifo', [files.fifo!])
    mkdirSync(files.directory!)
  })

  test('check reports the runtime error of each file, with its code, and goes on to the next file', () => {
    const order = Object.values(files)
    const r = kavach(['check', ...order, EXAMPLE])
    expect(r.status).toBe(1)
    const expected = order.map((f) => {
      const e = runtime(f)
      if ('policies' in e) throw new Error(`${f} loads in the runtime`)
      return `error  ${f}: ${e.message} [${e.code}]`
    })
    expect(r.stdout).toBe(`${[...expected, `ok     ${EXAMPLE} (4 policies)`].join('\n')}\n`)
    // The runtime's own words: not UTF-8 (naming the byte), not a regular file, not readable.
    expect(r.stdout).toContain(`${files.latin1}: policy file '${files.latin1}' is not valid UTF-8: byte 0xE9 at offset 40`)
    expect(r.stdout).toContain(`${files.fifo}: policy file '${files.fifo}' is not a regular file (a FIFO) [IO]`)
    expect(r.stdout).toContain("policy file '/dev/null' is not a regular file (a character device) [IO]")
    const json = JSON.parse(kavach(['check', files.latin1!, files.device!, '--json']).stdout) as { ok: boolean; files: Array<{ ok: boolean; error: { code: string; message: string } }> }
    expect(json.ok).toBe(false)
    expect(json.files.map((f) => ({ code: f.error.code, message: f.error.message }))).toEqual([runtime(files.latin1!), runtime(files.device!)])
  })

  test('explain, convert, lint and test read policies the same way: the runtime error, exit 1, no hang', () => {
    const ctx = join(dir, 'ctx.json')
    writeFileSync(ctx, JSON.stringify({ principalId: 'a', principalKind: 'user', actionName: 'read' }))
    const cases = join(dir, 'cases.json')
    writeFileSync(cases, JSON.stringify({ cases: [{ name: 'read', expect: 'permit', context: { principalId: 'a', principalKind: 'user', actionName: 'read' } }] }))
    for (const file of [files.latin1!, files.fifo!, files.device!]) {
      const e = runtime(file) as { code: string; message: string }
      for (const args of [
        ['explain', file, '--context', ctx],
        ['convert', file, '--to', 'json'],
        ['lint', EXAMPLE, file],
        ['test', file, '--cases', cases],
      ]) {
        const r = kavach(args)
        expect(r.status, args.join(' ')).toBe(1)
        expect(r.stdout, args.join(' ')).toBe('')
        expect(r.stderr, args.join(' ')).toBe(`kavach [${e.code}]: ${file}: ${e.message} [${e.code}]\n`)
      }
    }
  })

  test('a cases file is read with the same reader: a FIFO is refused at once (usage error)', () => {
    const r = kavach(['test', EXAMPLE, '--cases', files.fifo!])
    expect(r.status).toBe(2)
    expect(r.stderr).toBe(`kavach: cases file '${files.fifo}': the file is not a regular file (a FIFO)\n`)
  })
})

describe('files the runtime accepts are accepted by every command', () => {
  const dir = tempDir('accept')
  const BOM = '\uFEFF'
  const bomJson = join(dir, 'bom.json')
  const bomToml = join(dir, 'bom.toml')
  const bad = join(dir, 'bad.toml')
  const bigToml = join(dir, 'big.toml')
  const bigJson = join(dir, 'big.json')
  beforeAll(() => {
    writeFileSync(bomJson, `${BOM}${JSON.stringify({ policies: [{ name: 'j', effect: 'permit', conditions: [{ action: 'write' }] }] })}`)
    writeFileSync(bomToml, `${BOM}${policy('t')}`)
    writeFileSync(bad, '[[policy]\nname=\n')
    // Past 2^53: a JavaScript number would round it to ...992.
    writeFileSync(bigToml, policy('big_toml', 'priority = 9007199254740993\n'))
    writeFileSync(bigJson, '{"policies":[{"name":"big_json","effect":"permit","priority":-9007199254740995,"conditions":[{"action":"write"}]}]}')
  })

  test('check: a BOM file next to a bad one, each with its own result (the runtime drops the BOM)', () => {
    expect(runtime(bomJson)).toEqual({ policies: 1 })
    const r = kavach(['check', bomJson, EXAMPLE, bad, bomToml, '--json'])
    expect(r.status).toBe(1)
    expect(r.stderr).toBe('')
    const out = JSON.parse(r.stdout) as { files: Array<{ file: string; ok: boolean; policies?: number; error?: { code: string; line?: number } }> }
    expect(out.files).toEqual([
      { file: bomJson, ok: true, policies: 1 },
      { file: EXAMPLE, ok: true, policies: 4 },
      { file: bad, ok: false, error: expect.objectContaining({ file: bad, code: 'POLICY_PARSE', line: 1 }) },
      { file: bomToml, ok: true, policies: 1 },
    ])
  })

  test('integers past 2^53 that the runtime loads: check, lint and test accept them; convert keeps them exact', () => {
    expect(runtime(bigToml)).toEqual({ policies: 1 })
    expect(kavach(['check', bigToml, bigJson]).stdout).toBe(`ok     ${bigToml} (1 policies)\nok     ${bigJson} (1 policies)\n`)
    // The merged set keeps the exact priorities: lint's shadowing findings quote them.
    const lint = kavach(['lint', bigToml, bigJson, bomJson, bomToml])
    expect(lint.stderr).toBe('')
    expect(lint.stdout).toContain("'big_json' (permit, evaluated first: priority -9007199254740995 vs 100)")
    expect(lint.stdout).toContain("'t' (permit, evaluated first: priority 100 vs 9007199254740993)")
    expect(lint.stdout).toContain('4 policies, 2 warning(s)')
    expect(lint.status).toBe(1)
    const cases = join(dir, 'cases.toml')
    writeFileSync(cases, '[[case]]\nname = "read"\nexpect = "permit"\ncontext = { principalId = "a", principalKind = "user", actionName = "read" }\n')
    const t = kavach(['test', bigToml, bigJson, '--cases', cases])
    expect(t.stderr).toBe('')
    expect(t.status).toBe(0)

    const toJson = kavach(['convert', bigToml, '--to', 'json'])
    expect(toJson.status).toBe(0)
    expect(toJson.stdout).toContain('"priority": 9007199254740993,')
    expect(Gate.fromJsonString(toJson.stdout).policyCount).toBe(1)
    const toToml = kavach(['convert', bigJson, '--to', 'toml'])
    expect(toToml.status).toBe(0)
    expect(toToml.stdout).toContain('priority = -9007199254740995\n')
    // A BOM file converts too (the document after the mark).
    expect(JSON.parse(kavach(['convert', bomJson, '--to', 'json']).stdout)).toEqual({ policies: [{ name: 'j', effect: 'permit', conditions: [{ action: 'write' }] }] })
  })

  test('convert --to toml: an integer past TOML\'s 64 bits is an error naming the file, the key and the value', () => {
    const wide = join(dir, 'wide.json')
    writeFileSync(wide, '{"policies":[{"name":"p","effect":"permit","conditions":[{"action":"a"},{"param_max":{"field":"x","max":10000000000000000000}}]}]}')
    expect(runtime(wide)).toEqual({ policies: 1 })
    const r = kavach(['convert', wide, '--to', 'toml', '--json'])
    expect(r.status).toBe(1)
    expect(JSON.parse(r.stdout).error.code).toBe('CONVERT')
    expect(r.stderr).toBe(
      `kavach [CONVERT]: ${wide}: policies[0].conditions[1].param_max.max is 10000000000000000000, an integer TOML cannot hold ` +
        '(TOML integers are 64-bit, -9223372036854775808 to 9223372036854775807); write it with an exponent (1e+19) only where a non-integer number is accepted (not `priority`), or keep the file in JSON\n',
    )
    // The largest 64-bit integer still converts, exactly.
    const edge = join(dir, 'edge.json')
    writeFileSync(edge, '{"policies":[{"name":"p","effect":"permit","priority":-9223372036854775808,"conditions":[]}]}')
    const ok = kavach(['convert', edge, '--to', 'toml'])
    expect(ok.stderr).toBe('')
    expect(ok.stdout).toContain('priority = -9223372036854775808\n')
  })

  test('lint and test: every bad file is reported, each located in its file; none hides another', () => {
    const bad2 = join(dir, 'bad2.json')
    writeFileSync(bad2, JSON.stringify({ policies: [{ name: 'x', effect: 'allow', conditions: [] }] }))
    for (const args of [['lint', bad, EXAMPLE, bad2], ['test', bad, EXAMPLE, bad2, '--cases', join(root, 'examples/policies/support.cases.toml')]]) {
      const r = kavach(args)
      expect(r.status, args[0]).toBe(1)
      const lines = r.stderr.trimEnd().split('\n')
      expect(lines, args[0]).toHaveLength(2)
      expect(lines[0], args[0]).toMatch(new RegExp(`^kavach \\[POLICY_PARSE\\]: ${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:1:\\d+: `))
      expect(lines[1], args[0]).toMatch(new RegExp(`^${bad2.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:1:1: policy 'x': key 'effect'.*\\[POLICY_PARSE\\]$`))
    }
  })

  test('files that load alone but not together: the error names the files the clashing policies come from', () => {
    const other = join(dir, 'other.toml')
    writeFileSync(other, policy('u') + policy('t'))
    const r = kavach(['lint', bomToml, other, '--json'])
    expect(r.status).toBe(1)
    const err = (JSON.parse(r.stdout) as { error: { code: string; message: string } }).error
    expect(err.code).toBe('POLICY_PARSE')
    expect(err.message).toContain(`${bomToml}, ${other}: do not load as one policy set: policy 't': duplicate policy name`)
    expect(err.message).toContain(`#0 is policy #0 of ${bomToml}; #2 is policy #1 of ${other}`)
  })
})

describe('the other files the CLI reads are regular files too', () => {
  const dir = tempDir('inputs')
  const fifo = join(dir, 'input.fifo')
  beforeAll(() => execFileSync('mkfifo', [fifo]))

  test('a FIFO or a device as --context, chain or bundle is an error naming it, not a hang', () => {
    const explain = kavach(['explain', EXAMPLE, '--context', fifo])
    expect(explain.status).toBe(2)
    expect(explain.stderr).toContain(`--context '${fifo}': context file '${fifo}' is not a regular file (a FIFO)`)
    for (const [args, what] of [
      [['audit', 'verify', fifo, '--bundle', '/dev/null'], 'audit chain'],
      [['audit', 'report', fifo, '--out', join(dir, 'r.html')], 'audit chain'],
    ] as const) {
      const r = kavach([...args])
      expect(r.status, args.join(' ')).toBe(1)
      expect(r.stderr, args.join(' ')).toContain(`${what} '${fifo}' is not a regular file (a FIFO)`)
    }
    const chain = join(dir, 'chain.jsonl')
    writeFileSync(chain, '')
    const bundle = kavach(['audit', 'verify', chain, '--bundle', fifo])
    expect(bundle.status).toBe(1)
    expect(bundle.stderr).toContain(`bundle '${fifo}' is not a regular file (a FIFO)`)
    const device = kavach(['audit', 'verify', chain, '--bundle', '/dev/zero'])
    expect(device.status).toBe(1)
    expect(device.stderr).toContain("bundle '/dev/zero' is not a regular file (a character device)")
  })
})
