// Issue 18, input validation seen from JS: policy files read as strict UTF-8 from regular files
// only (P4, H1), look-alike names and unknown context keys (P5), field length caps (U3), short
// error messages (U5), conversion errors that name the field (E1) and the E2 corner cases.

import { spawnSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { describe, expect, test } from 'vitest'

import { ActionContext, Gate, InvalidArgumentError, InvalidContextError, IoError, KavachKeyPair, PolicyParseError, PublicKeyDirectory, SecureChannel, SignedAuditChain } from '../index'
import { firstInvalidUtf8 } from '../src/policy-file'
import { caught } from './fixtures/outcomes'

const tmp = mkdtempSync(join(tmpdir(), 'kavach-hostile-'))
const DENY_LIST = {
  policies: [
    { name: 'no-delete', effect: 'refuse' as const, priority: 1, conditions: [{ action: 'delete_user' }] },
    { name: 'all', effect: 'permit' as const, conditions: [] },
  ],
}
const base = { principalId: 'bob', principalKind: 'user' as const, actionName: 'read' }


describe('P4: policy files are strict UTF-8', () => {
  test('a Latin-1 TOML naming löschen_* is a PolicyParseError naming the byte offset', () => {
    const head = Buffer.from('[[policy]]\nname = "no-delete"\neffect = "refuse"\nconditions = [{ action = "l')
    const path = join(tmp, 'latin1.toml')
    writeFileSync(path, Buffer.concat([head, Buffer.from([0xf6]), Buffer.from('schen_*" }]\n[[policy]]\nname = "all"\neffect = "permit"\nconditions = []\n')]))
    const err = caught(() => Gate.fromFile(path))
    expect(err).toBeInstanceOf(PolicyParseError)
    expect(err.code).toBe('POLICY_PARSE')
    expect(err.message).toContain(`byte 0xF6 at offset ${head.length}`)
    // The same file in UTF-8 loads and refuses löschen_alles.
    writeFileSync(path, Buffer.concat([head, Buffer.from('öschen_*" }]\n[[policy]]\nname = "all"\neffect = "permit"\nconditions = []\n')]))
    const gate = Gate.fromFile(path)
    expect(gate.evaluate({ ...base, actionName: 'löschen_alles' }).code).toBe('POLICY_DENIED')
    // NFD in the context matches the NFC policy.
    expect(gate.evaluate({ ...base, actionName: 'lo\u0308schen_alles' }).code).toBe('POLICY_DENIED')
  })

  test('a UTF-8 BOM is dropped for TOML and JSON files alike', () => {
    const toml = join(tmp, 'bom.toml')
    writeFileSync(toml, '\ufeff[[policy]]\nname = "p"\neffect = "permit"\nconditions = []\n')
    expect(Gate.fromFile(toml).policyCount).toBe(1)
    const json = join(tmp, 'bom.json')
    writeFileSync(json, '\ufeff{"policies":[{"name":"p","effect":"permit","conditions":[]}]}')
    expect(Gate.fromFile(json).policyCount).toBe(1)
    expect(Gate.fromJsonFile(json).policyCount).toBe(1)
    expect(Gate.fromJsonString('\ufeff{"policies":[]}').policyCount).toBe(0)
  })

  test('the offset finder agrees with the UTF-8 rules (overlongs, surrogates, truncation)', () => {
    expect(firstInvalidUtf8(Buffer.from('aé€😀'))).toBe(-1)
    expect(firstInvalidUtf8(Buffer.from([0x61, 0xc0, 0x80]))).toBe(1)
    expect(firstInvalidUtf8(Buffer.from([0x61, 0x62, 0xed, 0xa0, 0x80]))).toBe(2)
    expect(firstInvalidUtf8(Buffer.from([0xe2, 0x82]))).toBe(0)
    expect(firstInvalidUtf8(Buffer.from([0xf4, 0x90, 0x80, 0x80]))).toBe(0)
  })
})

describe('H1: only regular files are read', () => {
  function inChild(...args: string[]): string {
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(__dirname, 'fixtures/read-file-kinds.ts'), ...args], {
      cwd: join(__dirname, '..'),
      encoding: 'utf8',
      timeout: 30_000,
    })
    // A blocked read ends in the timeout (SIGTERM, no status): the test fails, vitest goes on.
    expect(r.signal, `child blocked: ${r.stderr}`).toBeNull()
    expect(r.status, r.stderr).toBe(0)
    return r.stdout
  }

  test('a FIFO is refused naming the path instead of blocking', () => {
    const fifo = join(tmp, 'policy.fifo')
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0)
    const out = inChild(fifo)
    expect(out).toContain(`Gate.fromFile: IO policy file '${fifo}' is not a regular file (a FIFO)`)
    expect(out).toContain(`Gate.fromJsonFile: IO policy file '${fifo}' is not a regular file (a FIFO)`)
    expect(out).toContain(`PublicKeyDirectory.fromFile: IO i/o error: '${fifo}' is not a regular file (a FIFO)`)
  })

  test('files replaced by FIFOs after loading: reloads, verify and export are refused instead of blocking', () => {
    const dir = mkdtempSync(join(tmp, 'swapped-'))
    const out = inChild('--swapped', dir)
    expect(out).toContain(`PublicKeyDirectory.reload: IO i/o error: '${join(dir, 'manifest.json')}' is not a regular file (a FIFO)`)
    expect(out).toContain(`signed PublicKeyDirectory.reload: IO i/o error: '${join(dir, 'signed-manifest.json')}' is not a regular file (a FIFO)`)
    expect(out).toContain(`SignedAuditChain.verify: IO i/o error: audit file '${join(dir, 'audit.jsonl')}' is not a regular file (a FIFO)`)
    expect(out).toContain(`SignedAuditChain.exportJsonl: IO i/o error: audit file '${join(dir, 'audit.jsonl')}' is not a regular file (a FIFO)`)
    expect(out).toContain('PublicKeyDirectory.length: 2')
  })

  test('a key-directory manifest over the size cap is refused naming the limit', () => {
    const path = join(tmp, 'huge-manifest.json')
    writeFileSync(path, '')
    // Sparse: no disk is used.
    expect(spawnSync('truncate', ['-s', String(64 * 1024 * 1024 + 1), path]).status).toBe(0)
    const err = caught(() => PublicKeyDirectory.fromFile(path))
    expect(err).toBeInstanceOf(IoError)
    expect(err.message).toContain('larger than the limit of 67108864 bytes (MAX_MANIFEST_BYTES)')
  })

  test('/dev/zero and a directory are refused', () => {
    const zero = inChild('/dev/zero')
    expect(zero).toContain("Gate.fromFile: IO policy file '/dev/zero' is not a regular file (a character device)")
    expect(zero).toContain("PublicKeyDirectory.fromFile: IO i/o error: '/dev/zero' is not a regular file (a character device)")
    expect(caught(() => Gate.fromFile(tmp))).toBeInstanceOf(IoError)
    expect(caught(() => Gate.fromFile(tmp)).message).toContain('(a directory)')
  })

  test('a file over the size cap is refused naming the limit', () => {
    const path = join(tmp, 'huge.toml')
    writeFileSync(path, '')
    // Sparse: no disk is used.
    spawnSync('truncate', ['-s', String(64 * 1024 * 1024 + 1), path])
    expect(caught(() => Gate.fromFile(path)).message).toContain('larger than the limit of 67108864 bytes (MAX_POLICY_FILE_BYTES)')
  })

  test('fromFile(42) is an argument error, not file descriptor 42', () => {
    const err = caught(() => Gate.fromFile(42 as never))
    expect(err).toBeInstanceOf(InvalidArgumentError)
    expect(err.message).toBe('Gate.fromFile: path must be a non-empty string (got number)')
    expect(caught(() => Gate.fromJsonFile(null as never)).message).toBe('Gate.fromJsonFile: path must be a non-empty string (got null)')
    expect(caught(() => Gate.fromFile('')).message).toBe('Gate.fromFile: path must be a non-empty string (got an empty string)')
  })
})

describe('P5: look-alike names and unknown keys', () => {
  const gate = Gate.fromObject(DENY_LIST, { enableDrift: false })

  test('look-alike action names are refused with INVALID_CONTEXT naming the field', async () => {
    expect(gate.evaluate({ ...base, actionName: 'delete_user' }).code).toBe('POLICY_DENIED')
    for (const actionName of ['d\u0435lete_user', 'delete_user\u200b', 'delete_user ', 'delete_user\0', 'delete\u202e_user', '\u2066delete_user', 'delete_user\ud800']) {
      const v = gate.evaluate({ ...base, actionName })
      expect(v.isPermit, JSON.stringify(actionName)).toBe(false)
      expect(v.code).toBe('INVALID_CONTEXT')
      expect(v.reason).toMatch(/^actionName /)
      const a = await gate.evaluateAsync({ ...base, actionName })
      expect(a.code).toBe('INVALID_CONTEXT')
    }
    expect(gate.evaluate({ ...base, principalId: 'bob\u200d' }).reason).toMatch(/^principalId /)
    expect(gate.evaluate({ ...base, roles: ['admin', ' admin'] }).reason).toMatch(/^roles\[1\] /)
    expect(gate.explain({ ...base, actionName: 'delete_user\u200b' }).verdict.code).toBe('INVALID_CONTEXT')
  })

  test('policy patterns " " and "\\0" are load errors', () => {
    for (const action of [' ', '\0', 'delete_user\u200b']) {
      const err = caught(() => Gate.fromObject({ policies: [{ name: 'p', effect: 'permit', conditions: [{ action }] }] }))
      expect(err).toBeInstanceOf(PolicyParseError)
    }
  })

  test('an unknown context key is INVALID_CONTEXT naming the key, on every path', async () => {
    const typo = { ...base, role: ['admin'] } as never
    for (const run of [() => gate.evaluate(typo), () => gate.check(typo), () => gate.explain(typo), () => new ActionContext(typo)]) {
      const err = caught(run)
      expect(err).toBeInstanceOf(InvalidContextError)
      expect(err.code).toBe('INVALID_CONTEXT')
      expect(err.message).toContain("context: unknown key 'role'")
      expect(err.message).toContain("did you mean 'roles'?")
    }
    await expect(gate.evaluateAsync(typo)).rejects.toBeInstanceOf(InvalidContextError)
    // The general (non-fast) path too: a bigint param sends the context there.
    expect(caught(() => gate.evaluate({ ...base, params: { a: {} }, rol: 1 } as never))).toBeInstanceOf(InvalidContextError)
    // Nested objects.
    expect(caught(() => gate.evaluate({ ...base, device: { hash: 'h', fingerprint: 'x' } } as never)).message).toContain("device: unknown key 'fingerprint'")
  })
})

describe('U3 / U5: field caps and short messages', () => {
  const gate = Gate.fromObject(DENY_LIST, { enableDrift: false })

  test('each string field has a cap named in the refusal', () => {
    const cases: Array<[object, string]> = [
      [{ principalId: 'a'.repeat(257) }, 'principalId is 257 bytes long, over the limit of 256 bytes'],
      [{ roles: ['r'.repeat(300)] }, 'roles[0] is 300 bytes long'],
      [{ ip: '1'.repeat(1 << 20) }, 'ip is 1048576 bytes long, over the limit of 64 bytes'],
      [{ sessionId: 's'.repeat(257) }, 'sessionId is 257 bytes long'],
      [{ device: { hash: 'h', description: 'd'.repeat(1025) } }, 'device.description is 1025 bytes long, over the limit of 1024 bytes'],
      [{ params: { note: 'n'.repeat(70_000) } }, 'over the limit of 65536 bytes'],
    ]
    for (const [extra, message] of cases) {
      const v = gate.evaluate({ ...base, ...extra })
      expect(v.code).toBe('INVALID_CONTEXT')
      expect(v.reason).toContain(message)
      expect(v.reason!.length).toBeLessThan(200)
    }
  })

  test('messages show at most ~100 characters of a value and never an object', () => {
    const huge = 'x'.repeat(1 << 20)
    const v = gate.evaluate({ ...base, actionName: `${huge}\u200b` })
    expect(v.reason!.length).toBeLessThan(200)
    const err = caught(() => gate.evaluate({ ...base, principalKind: huge } as never))
    expect(err.message.length).toBeLessThan(250)
    expect(err.message).toContain(`… (${1 << 20} characters)`)
    const secret = { password: 'hunter2' }
    const e2 = caught(() => gate.evaluate({ ...base, principalId: secret } as never))
    expect(e2.message).not.toContain('hunter2')
    expect(e2.message).toBe('principalId must be a string (got object)')
    const e3 = caught(() => Gate.fromObject({ policies: [{ name: 'p', effect: 'permit', conditions: [{ [huge]: 1 }] }] } as never))
    expect(e3.message.length).toBeLessThan(400)
  })
})

describe('E1 / E2: clear errors', () => {
  const gate = Gate.fromObject(DENY_LIST, { enableDrift: false })

  test('wrong JS types name the field, on the fast and the general path', async () => {
    const cases: Array<[object, string]> = [
      [{ principalId: 42 }, 'principalId must be a string (got number)'],
      [{ actionName: null }, 'actionName must be a string (got null)'],
      [{ roles: 'x' }, 'roles must be an array of strings (got string)'],
      [{ roles: ['a', 1] }, 'roles[1] must be a string (got number)'],
      [{ ip: 42 }, 'ip must be a string (got number)'],
      [{ currentGeo: { countryCode: 1 } }, 'currentGeo.countryCode must be a string (got number)'],
      [{ sessionStartedAt: '1' }, 'sessionStartedAt must be a number (got string)'],
    ]
    for (const [extra, message] of cases) {
      const ctx = { ...base, ...extra } as never
      const err = caught(() => gate.evaluate(ctx))
      expect(err, message).toBeInstanceOf(InvalidArgumentError)
      expect(err.code).toBe('INVALID_ARGUMENT')
      expect(err.message).toBe(message)
      const a = (await gate.evaluateAsync(ctx).catch((e: unknown) => e)) as Error
      expect(a.message).toBe(message)
      expect(caught(() => gate.explain(ctx)).message).toBe(message)
    }
  })

  test('an empty device.hash in a plain object is refused, as ActionContext refuses it', () => {
    expect(caught(() => new ActionContext({ ...base, device: { hash: '' } }))).toBeInstanceOf(InvalidArgumentError)
    const v = gate.evaluate({ ...base, device: { hash: '' } })
    expect(v.code).toBe('INVALID_CONTEXT')
    expect(v.reason).toContain('device.hash must be a non-empty string')
  })

  test('permitTtlSeconds above a day is an options error', () => {
    const err = caught(() => Gate.fromObject(DENY_LIST, { permitTtlSeconds: 1e15 }))
    expect(err.code).toBe('INVALID_OPTIONS')
    expect(err.message).toContain('permitTtlSeconds must be at most 86400')
    expect(Gate.fromObject(DENY_LIST, { permitTtlSeconds: 86_400 }).policyCount).toBe(2)
  })

  test("'0010s' and a window with two spaces are the documented forms", () => {
    const g = Gate.fromObject({
      policies: [{ name: 'p', effect: 'permit', conditions: [{ time_window: '00:00-23:59  UTC' }, { rate_limit: { max: 1, window: '0010s' } }] }],
    })
    expect(g.policyCount).toBe(1)
  })

  test('dir.insert() refuses an id already present, as inMemory() does', () => {
    const kp = KavachKeyPair.generate()
    const dir = PublicKeyDirectory.inMemory([kp.publicKeys()])
    const err = caught(() => dir.insert(kp.publicKeys()))
    expect(err.code).toBe('INVALID_ARGUMENT')
    expect(err.message).toContain('duplicate key id')
    expect(() => PublicKeyDirectory.inMemory([kp.publicKeys(), kp.publicKeys()])).toThrow(/duplicate/)
  })
})

describe('E2: numeric options that used to wrap', () => {
  test('syncEvery and maxTrackedNonces are integers in range, named when not', () => {
    const kp = KavachKeyPair.generate()
    for (const bad of [-1, 1e12, 1.5]) {
      const err = caught(() => new SecureChannel(kp, kp.publicKeys(), { maxTrackedNonces: bad }))
      expect(err.code).toBe('INVALID_ARGUMENT')
      expect(err.message).toBe(`maxTrackedNonces must be an integer from 1 to 16777216, got ${bad}`)
      const e2 = caught(() => SignedAuditChain.openFile(join(tmp, `audit-${bad}.jsonl`), kp, { syncEvery: bad }))
      expect(e2.code).toBe('INVALID_ARGUMENT')
      expect(e2.message).toBe(`syncEvery must be an integer from 1 to 1000000, got ${bad}`)
    }
    expect(new SecureChannel(kp, kp.publicKeys(), { maxTrackedNonces: 16 })).toBeDefined()
  })

  test('SignedAuditChain.openFile refuses /dev/zero naming the path', () => {
    const kp = KavachKeyPair.generate()
    const err = caught(() => SignedAuditChain.openFile('/dev/zero', kp))
    expect(err.code).toBe('IO')
    expect(err.message).toContain("'/dev/zero' is not a regular file (a character device)")
  })
})

describe('errors name where the problem is', () => {
  test('a deep value under an unknown top-level key of a policy object is not blamed on a policy', () => {
    let deep: unknown = 1
    for (let i = 0; i < 40; i++) deep = [deep]
    const e = caught(() => Gate.fromObject({ policies: [], zz: deep } as never))
    expect(e).toBeInstanceOf(PolicyParseError)
    expect((e as Error).message).toMatch(/key 'zz\.0\.0/)
    expect((e as Error).message).not.toMatch(/policy #/)
  })

  test('an invariant whose name breaks the name rules is refused with its index', () => {
    const e = caught(() => Gate.fromObject({ policies: [] }, { invariants: [{ name: 'ok', field: 'amount', maxValue: 1 }, { name: 'cap\u001b[31m', field: 'amount', maxValue: 1 }] }))
    expect((e as Error & { code?: string }).code).toBe('INVALID_OPTIONS')
    expect((e as Error).message).toMatch(/invariants\[1\]: invariant name .*control character/)
    expect((e as Error).message).not.toContain('\u001b')
  })
})
