// Durable audit file: a child process appends toward 100,000 entries (PQ-only, group-committed
// batches, each acknowledged on stdout after its fsync) and is SIGKILLed mid-way; reopening
// verifies the file (streaming), repairs a torn tail, keeps every acknowledged entry and
// continues the chain.
import { spawn } from 'node:child_process'
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'

import { AuditEntry, KavachKeyPair, SignedAuditChain } from '../index'

const REPO_ROOT = resolve(__dirname, '..')
const tsxLoader = pathToFileURL(createRequire(join(REPO_ROOT, 'package.json')).resolve('tsx')).href
const TOTAL = 100_000
/** Acknowledged entries after which the child is killed (signing ~2×300/s here, see README). */
const KILL_AT = Number(process.env.KAVACH_DURABLE_KILL_AT ?? 3000)

const dir = mkdtempSync(join(tmpdir(), 'kavach-audit-durable-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** Runs the writer until it has acknowledged `killAt` entries, then SIGKILLs it. */
function runWriterAndKill(file: string, keyFile: string, killAt: number): Promise<{ acked: number; signal: string | null }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ['--import', tsxLoader, join(REPO_ROOT, '__test__/fixtures/audit-writer.ts'), file, keyFile, String(TOTAL), '100'], { cwd: REPO_ROOT })
    let acked = 0
    let buf = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString('utf8')
      let nl: number
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl)
        buf = buf.slice(nl + 1)
        const m = /^acked (\d+)$/.exec(line)
        if (m) {
          acked = Number(m[1])
          if (acked >= killAt) child.kill('SIGKILL')
        }
      }
    })
    child.stderr.on('data', (d) => (stderr += d))
    const guard = setTimeout(() => child.kill('SIGKILL'), 50_000)
    child.on('error', fail)
    child.on('exit', (code, signal) => {
      clearTimeout(guard)
      if (signal !== 'SIGKILL') fail(new Error(`writer exited with ${code}: ${stderr}`))
      else done({ acked, signal })
    })
  })
}

describe('durable audit file', () => {
  it('survives SIGKILL mid-way: nothing acknowledged is lost, reopen verifies and continues', async () => {
    const kp = KavachKeyPair.generate()
    const keyFile = join(dir, 'key.bin')
    writeFileSync(keyFile, kp.exportSecret())
    const file = join(dir, 'audit.jsonl')

    const { acked, signal } = await runWriterAndKill(file, keyFile, KILL_AT)
    expect(signal).toBe('SIGKILL')
    expect(acked).toBeGreaterThanOrEqual(KILL_AT)

    // Simulate the worst crash on top: half a line at the end of the file.
    const firstLine = readFileSync(file).subarray(0, 5000)
    appendFileSync(file, firstLine)

    const chain = SignedAuditChain.openFile(file, kp)
    expect(chain.tornBytesTruncated).toBeGreaterThan(0)
    expect(chain.isHybrid).toBe(false)
    // Every acknowledged entry is there (the kill may have landed after more were written).
    expect(chain.length).toBeGreaterThanOrEqual(acked)
    expect(chain.length).toBeLessThan(TOTAL)
    const lengthAtOpen = chain.length
    const lines = readFileSync(file, 'utf8').split('\n').filter((l) => l !== '')
    expect(lines).toHaveLength(lengthAtOpen)
    for (let i = 0; i < acked; i += 997) {
      const e = JSON.parse(lines[i]!) as { index: number; signed_payload: { data: number[] } }
      expect(e.index).toBe(i)
      const data = JSON.parse(Buffer.from(e.signed_payload.data).toString('utf8')) as { principal_id: string }
      expect(data.principal_id).toBe(`agent-${i}`)
    }

    // Continue the same chain, then a clean reopen verifies everything.
    expect(chain.append(AuditEntry.new('after-crash', 'issue_refund', 'permit', 'token_id=x'))).toBe(lengthAtOpen + 1)
    const more = Array.from({ length: 50 }, (_, k) => AuditEntry.new(`after-${k}`, 'issue_refund', 'refuse', '[NO_POLICY_MATCH] no'))
    expect(chain.appendBatch(more)).toBe(lengthAtOpen + 51)
    expect(chain.durableLength).toBe(lengthAtOpen + 51)
    const cp = chain.checkpoint()
    expect(SignedAuditChain.verifyJsonl(readFileSync(file), kp.publicKeys(), { hybrid: false, checkpoint: cp })).toBe(lengthAtOpen + 51)
    // The file is locked while this chain is open: a second writer is refused.
    expect(() => SignedAuditChain.openFile(file, kp)).toThrow(/locked/)
  }, 90_000)

  it('a fresh file with fsync per append and grouped fsync', () => {
    const kp = KavachKeyPair.generate()
    const file = join(dir, 'grouped.jsonl')
    const c = SignedAuditChain.openFile(file, kp, { hybrid: true, syncEvery: 3 })
    expect(c.headHash).toBe('genesis')
    for (let i = 0; i < 4; i++) c.append(AuditEntry.new(`p-${i}`, 'a', 'invalidate', 'session:s-1'))
    expect(c.length).toBe(4)
    expect(c.durableLength).toBe(3)
    c.sync()
    expect(c.durableLength).toBe(4)
    expect(c.verify(kp.publicKeys())).toBe(4)
    expect(SignedAuditChain.verifyJsonl(c.exportJsonl(), kp.publicKeys())).toBe(4)
  })
})
