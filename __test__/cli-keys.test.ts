// `kavach keygen`, `kavach manifest sign` and `kavach audit verify` on the built binary, with
// the files checked through the SDK itself (import, directory load, chain verification).
import { linkSync, readFileSync, readdirSync, statSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

import { beforeAll, describe, expect, test } from 'vitest'

import { AuditEntry, KavachKeyPair, PublicKeyBundle, PublicKeyDirectory, SignedAuditChain } from '../index'
import { ensureBuilt, kavach, tempDir } from './fixtures/cli'
import { runTsx } from './fixtures/run-tsx'
import { tamperEntry } from './fixtures/tamper'

beforeAll(ensureBuilt, 120_000)

describe('kavach keygen', () => {
  test('writes an encrypted secret (0600) and its public bundle; the secret imports with the passphrase', () => {
    const dir = tempDir('keygen')
    const r = kavach(['keygen', '--out', dir, '--passphrase-env', 'KAVACH_TEST_PASS', '--expires-in', '90d', '--json'], { KAVACH_TEST_PASS: 'correct horse' })
    expect(r.status, r.stderr).toBe(0)
    const out = JSON.parse(r.stdout) as { keyId: string; secret: string; publicBundle: string; encrypted: boolean; expiresAt: string }
    expect(out.encrypted).toBe(true)
    expect(readdirSync(dir).sort()).toEqual([`${out.keyId}.public.json`, `${out.keyId}.secret`])
    expect(statSync(out.secret).mode & 0o777).toBe(0o600)
    const days = (Date.parse(out.expiresAt) - Date.now()) / 86_400_000
    expect(days).toBeGreaterThan(89.9)
    expect(days).toBeLessThan(90.1)
    const kp = KavachKeyPair.importSecret(readFileSync(out.secret), 'correct horse')
    expect(kp.id).toBe(out.keyId)
    expect(PublicKeyBundle.fromJSON(readFileSync(out.publicBundle)).id).toBe(out.keyId)
    expect(() => KavachKeyPair.importSecret(readFileSync(out.secret), 'wrong')).toThrow(expect.objectContaining({ code: 'PASSPHRASE_INVALID' }))
  })

  test('an unset passphrase variable or a bad duration is a usage error (exit 2), nothing written', () => {
    const dir = tempDir('keygen-bad')
    const unset = kavach(['keygen', '--out', dir, '--passphrase-env', 'KAVACH_UNSET_VAR_FOR_TEST'])
    expect(unset.status).toBe(2)
    expect(unset.stderr).toContain('KAVACH_UNSET_VAR_FOR_TEST')
    const duration = kavach(['keygen', '--out', dir, '--expires-in', '90 days'])
    expect(duration.status).toBe(2)
    expect(duration.stderr).toContain("--expires-in '90 days'")
    expect(readdirSync(dir)).toEqual([])
  })
})

describe('kavach manifest sign', () => {
  test('a root-signed manifest that PublicKeyDirectory.fromSignedFile loads', () => {
    const dir = tempDir('manifest')
    const gen = (): { keyId: string; secret: string; publicBundle: string } => JSON.parse(kavach(['keygen', '--out', dir, '--json']).stdout) as never
    const root = gen()
    const a = gen()
    const b = gen()
    const manifest = join(dir, 'manifest.json')
    const r = kavach(['manifest', 'sign', '--root', root.secret, '--bundles', a.publicBundle, b.publicBundle, '--out', manifest])
    expect(r.status, r.stderr).toBe(0)
    expect(r.stdout).toContain(`2 key(s) signed by root ${root.keyId}`)
    const rootVk = PublicKeyBundle.fromJSON(readFileSync(root.publicBundle)).mlDsaVerifyingKey
    const directory = PublicKeyDirectory.fromSignedFile(manifest, rootVk)
    expect(directory.keyIds.sort()).toEqual([a.keyId, b.keyId].sort())
    // Signed by another root: refused.
    const other = gen()
    expect(() => PublicKeyDirectory.fromSignedFile(manifest, PublicKeyBundle.fromJSON(readFileSync(other.publicBundle)).mlDsaVerifyingKey)).toThrow()
  })

  /** A root key and two bundles written by the SDK, and `kavach manifest sign ARGS` run from the sources. */
  function signing(): { dir: string; root: string; rootVk: Buffer; bundles: string[]; keyIds: string[]; sign: (args: string[]) => Promise<{ code: number | null; stdout: string; stderr: string }> } {
    const dir = tempDir('manifest-src')
    const rootKp = KavachKeyPair.generate()
    const root = join(dir, 'root.secret')
    writeFileSync(root, rootKp.exportSecret())
    const keys = [KavachKeyPair.generate(), KavachKeyPair.generate()]
    const bundles = keys.map((kp, i) => {
      const file = join(dir, `k${i}.public.json`)
      writeFileSync(file, kp.publicKeys().toJSON())
      return file
    })
    const sign = (args: string[]) => runTsx('src/cli/main.ts', { args: ['manifest', 'sign', '--root', root, '--bundles', ...bundles, ...args], killAfterMs: 60_000 })
    return { dir, root, rootVk: rootKp.publicKeys().mlDsaVerifyingKey, bundles, keyIds: keys.map((k) => k.id), sign }
  }

  test('--json carries the signed text in `manifest`, as printed without --json, which fromSignedFile loads (from the sources)', async () => {
    const { dir, rootVk, keyIds, sign } = signing()
    const r = await sign(['--json'])
    expect(r.code, r.stderr).toBe(0)
    const out = JSON.parse(r.stdout) as { ok: boolean; keyIds: string[]; manifest: unknown }
    expect(out.ok).toBe(true)
    expect(out.keyIds).toEqual(keyIds)
    expect(typeof out.manifest).toBe('string')
    const file = join(dir, 'from-json.json')
    writeFileSync(file, out.manifest as string)
    expect(PublicKeyDirectory.fromSignedFile(file, rootVk).keyIds.sort()).toEqual([...keyIds].sort())
    // Without --json the manifest itself is printed: the same shape, a fresh signature.
    const plain = await sign([])
    expect(plain.code, plain.stderr).toBe(0)
    expect(Object.keys(JSON.parse(plain.stdout) as object)).toEqual(Object.keys(JSON.parse(out.manifest as string) as object))
  }, 90_000)

  test('--out naming the root key or a bundle (itself, a symlink or a hard link) is refused before anything is written (exit 1)', async () => {
    const { dir, root, bundles, sign } = signing()
    const rootBefore = readFileSync(root)
    const bundleBefore = readFileSync(bundles[1]!)
    const viaSymlink = join(dir, 'symlink.json')
    symlinkSync(root, viaSymlink)
    const viaLink = join(dir, 'hardlink.json')
    linkSync(bundles[1]!, viaLink)
    for (const [out, message] of [
      [root, `--out '${root}' is the root key itself: writing it would destroy the root key; name another file`],
      [viaSymlink, `--out '${viaSymlink}' is the root key '${root}' under another name: writing it would destroy the root key; name another file`],
      [viaLink, `--out '${viaLink}' is the bundle '${bundles[1]}' under another name: writing it would destroy the bundle; name another file`],
    ] as const) {
      const r = await sign(['--out', out, '--json'])
      expect(r.code, out).toBe(1)
      expect(r.stderr).toBe(`kavach [OUTPUT_IS_INPUT]: ${message}\n`)
      expect(JSON.parse(r.stdout)).toEqual({ ok: false, error: { code: 'OUTPUT_IS_INPUT', message } })
    }
    expect(readFileSync(root)).toEqual(rootBefore)
    expect(readFileSync(bundles[1]!)).toEqual(bundleBefore)
    // A new file is written as before.
    const fresh = join(dir, 'manifest.json')
    expect((await sign(['--out', fresh])).code).toBe(0)
    expect(readFileSync(fresh).length).toBeGreaterThan(0)
  }, 90_000)

  test('a bad bundle file is named (exit 1)', () => {
    const dir = tempDir('manifest-bad')
    const root = JSON.parse(kavach(['keygen', '--out', dir, '--json']).stdout) as { secret: string }
    const bad = join(dir, 'bad.public.json')
    writeFileSync(bad, '{"id":"x"}')
    const r = kavach(['manifest', 'sign', '--root', root.secret, '--bundles', bad])
    expect(r.status).toBe(1)
    expect(r.stderr).toContain(`bundle '${bad}'`)
  })
})

describe('kavach audit verify', () => {
  function chainFile(entries: number, hybrid = true): { dir: string; chain: string; bundle: string; checkpoint: string } {
    const dir = tempDir('audit')
    const kp = KavachKeyPair.generate()
    const chain = new SignedAuditChain(kp, hybrid)
    for (let i = 0; i < entries; i++) chain.append(AuditEntry.new(`agent-${i % 3}`, 'issue_refund', i % 4 === 0 ? 'refuse' : 'permit', `detail ${i}`))
    const paths = { dir, chain: join(dir, 'chain.jsonl'), bundle: join(dir, 'key.public.json'), checkpoint: join(dir, 'checkpoint.json') }
    writeFileSync(paths.chain, chain.exportJsonl())
    writeFileSync(paths.bundle, kp.publicKeys().toJSON())
    writeFileSync(paths.checkpoint, chain.checkpoint().toJSON())
    return paths
  }

  test('an intact chain verifies (with its checkpoint); piped output has no progress bar', () => {
    const f = chainFile(12)
    const r = kavach(['audit', 'verify', f.chain, '--bundle', f.bundle, '--checkpoint', f.checkpoint])
    expect(r.status, r.stderr).toBe(0)
    expect(r.stdout).toBe(`ok  ${f.chain}: 12 entries verified, checkpoint matches\n`)
    expect(r.stderr).toBe('')
    const j = kavach(['audit', 'verify', f.chain, '--bundle', f.bundle, '--json'])
    expect(JSON.parse(j.stdout)).toEqual({ chain: f.chain, ok: true, entries: 12 })
  })

  test('a chain over 2 GiB is read whole and judged by the verifier (a sparse hole: no disk used)', () => {
    const f = chainFile(3)
    // A hole past 2 GiB after the three entries: one read of it would ask readSync for a length
    // over its 32-bit limit, and a string of it more than V8 holds. The verifier then names the line.
    truncateSync(f.chain, statSync(f.chain).size + 2 ** 31 + 1)
    const r = kavach(['audit', 'verify', f.chain, '--bundle', f.bundle, '--json'])
    expect(r.status, r.stderr).toBe(1)
    const out = JSON.parse(r.stdout) as { ok: boolean; error: string; code: string }
    expect([out.ok, out.code]).toEqual([false, 'CHAIN_INVALID'])
    expect(out.error).toContain('audit chain invalid: entry 3: ')
  })

  test('a tampered entry is named; exit 1', () => {
    const f = chainFile(12)
    writeFileSync(f.chain, tamperEntry(readFileSync(f.chain, 'utf8'), 5, 'detail 5', 'detail 6'))
    const r = kavach(['audit', 'verify', f.chain, '--bundle', f.bundle, '--json'])
    expect(r.status).toBe(1)
    const out = JSON.parse(r.stdout) as { ok: boolean; error: string; code: string }
    expect(out.ok).toBe(false)
    expect(out.code).toBe('CHAIN_INVALID')
    expect(out.error).toContain('entry 5')
  })

  test('a PQ-only chain verifies with --pq-only only: the mode comes from the operator, never the file', () => {
    const f = chainFile(6, false)
    const hybrid = kavach(['audit', 'verify', f.chain, '--bundle', f.bundle, '--json'])
    expect(hybrid.status).toBe(1)
    const refused = JSON.parse(hybrid.stdout) as { ok: boolean; code: string; error: string }
    expect(refused.ok).toBe(false)
    expect(refused.code).toBe('ALGORITHM_MISMATCH')
    expect(refused.error).toContain('entry 0')
    const pq = kavach(['audit', 'verify', f.chain, '--bundle', f.bundle, '--checkpoint', f.checkpoint, '--pq-only'])
    expect(pq.status, pq.stderr).toBe(0)
    expect(pq.stdout).toBe(`ok  ${f.chain}: 6 entries verified, checkpoint matches\n`)
    // A hybrid chain is not accepted as PQ-only either.
    const h = chainFile(3)
    expect(kavach(['audit', 'verify', h.chain, '--bundle', h.bundle, '--pq-only']).status).toBe(1)
  })

  test('a truncated chain fails its checkpoint', () => {
    const f = chainFile(12)
    const lines = readFileSync(f.chain, 'utf8').split('\n').filter((l) => l !== '')
    writeFileSync(f.chain, `${lines.slice(0, 10).join('\n')}\n`)
    const r = kavach(['audit', 'verify', f.chain, '--bundle', f.bundle, '--checkpoint', f.checkpoint])
    expect(r.status).toBe(1)
    expect(r.stdout).toMatch(/^BAD /)
  })
})
