// Durable audit file. The 100,000-entry crash test: a child process appends toward 100,000
// entries (PQ-only, group-committed batches signed on every core, each batch acknowledged on
// stdout after its fsync) and is SIGKILLed once 50,000 are acknowledged; reopening verifies the
// file (streaming, parallel signature checks in a bounded window), repairs a torn tail, keeps
// every acknowledged entry and continues the chain to exactly 100,000, which a final reopen
// verifies again. Plus close(): flush, release the lock, refuse appends.
import { type ChildProcess, spawn } from 'node:child_process'
import { appendFileSync, closeSync, mkdtempSync, openSync, readSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'

import { AlgorithmMismatchError, AuditEntry, ChainClosedError, IoError, KavachKeyPair, SignedAuditChain } from '../index'

const REPO_ROOT = resolve(__dirname, '..')
const tsxLoader = pathToFileURL(createRequire(join(REPO_ROOT, 'package.json')).resolve('tsx')).href
const TOTAL = 100_000
/** The middle: the writer is killed once this many entries are acknowledged. */
const KILL_AT = TOTAL / 2
/** Entries per group commit in the writer and when continuing. */
const BATCH = 250
/**
 * Budget of the crash test. It is ~230 s of CPU, nearly all ML-DSA-65 (ml-dsa 0.1: ~1.9 ms of
 * CPU per signature, ~0.3 ms per verification): 100,000 signatures plus 150,000 verifications
 * (50,000 on the reopen after the kill, 100,000 on the final reopen), spread over every core.
 * ~120 s on 2 otherwise idle cores; 216 s measured on a shared 2-core machine at load ~4.
 * KAVACH_DURABLE_TIMEOUT_MS raises the budget on a machine whose cores are busy elsewhere.
 */
const CRASH_TEST_TIMEOUT_MS = Number(process.env.KAVACH_DURABLE_TIMEOUT_MS ?? 600_000)

const dir = mkdtempSync(join(tmpdir(), 'kavach-audit-durable-'))
/** Writer processes still running if a test failed or timed out before killing them. */
const children = new Set<ChildProcess>()
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
  rmSync(dir, { recursive: true, force: true })
})

interface Ack {
  length: number
  head: string
  bytes: number
}

/** Runs the writer until it has acknowledged `killAt` entries, then SIGKILLs it. */
function runWriterAndKill(file: string, keyFile: string, killAt: number): Promise<{ last: Ack; signal: string | null }> {
  return new Promise((done, fail) => {
    const child = spawn(
      process.execPath,
      ['--import', tsxLoader, join(REPO_ROOT, '__test__/fixtures/audit-writer.ts'), file, keyFile, String(TOTAL), String(BATCH)],
      { cwd: REPO_ROOT },
    )
    children.add(child)
    let last: Ack = { length: 0, head: 'genesis', bytes: 0 }
    let buf = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString('utf8')
      let nl: number
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl)
        buf = buf.slice(nl + 1)
        const m = /^acked (\d+) ([0-9a-f]{64}) (\d+)$/.exec(line)
        if (m) {
          last = { length: Number(m[1]), head: m[2]!, bytes: Number(m[3]) }
          if (last.length >= killAt) child.kill('SIGKILL')
        }
      }
    })
    child.stderr.on('data', (d) => (stderr += d))
    child.on('error', fail)
    child.on('exit', (code, signal) => {
      children.delete(child)
      if (signal !== 'SIGKILL') fail(new Error(`writer exited with ${code}: ${stderr}`))
      else done({ last, signal })
    })
  })
}

/** The complete line that ends at byte `end` of `file` (the byte at `end - 1` is its `\n`). */
function lineEndingAt(file: string, end: number): string {
  const fd = openSync(file, 'r')
  try {
    const start = Math.max(0, end - 256 * 1024)
    const b = Buffer.alloc(end - start)
    expect(readSync(fd, b, 0, b.length, start)).toBe(b.length)
    expect(b[b.length - 1]).toBe(0x0a)
    const from = b.lastIndexOf(0x0a, b.length - 2) + 1
    expect(from).toBeGreaterThan(0)
    return b.subarray(from, b.length - 1).toString('utf8')
  } finally {
    closeSync(fd)
  }
}

function head(file: string, n: number): Buffer {
  const fd = openSync(file, 'r')
  try {
    const b = Buffer.alloc(n)
    return b.subarray(0, readSync(fd, b, 0, n, 0))
  } finally {
    closeSync(fd)
  }
}

const entryFor = (i: number) => AuditEntry.new(`agent-${i}`, 'issue_refund', 'permit', `token_id=t${i}`)

describe('durable audit file', () => {
  it(
    'PQ-only, 100,000 entries: SIGKILL once 50,000 are acknowledged; reopen verifies, keeps every acknowledged entry, repairs a torn tail and continues to exactly 100,000',
    async () => {
      const t0 = performance.now()
      const kp = KavachKeyPair.generate()
      const keyFile = join(dir, 'key.bin')
      writeFileSync(keyFile, kp.exportSecret())
      const file = join(dir, 'audit.jsonl')

      const { last, signal } = await runWriterAndKill(file, keyFile, KILL_AT)
      const tKilled = performance.now()
      expect(signal).toBe('SIGKILL')
      expect(last.length).toBeGreaterThanOrEqual(KILL_AT)
      expect(last.length).toBeLessThan(TOTAL)
      // fsynced before it was acknowledged: the kill cannot have taken any of it back.
      expect(statSync(file).size).toBeGreaterThanOrEqual(last.bytes)

      // The worst crash on top of whatever the kill left: half a line at the end of the file.
      appendFileSync(file, head(file, 5000))

      const chain = SignedAuditChain.openFile(file, kp, { hybrid: false })
      const tReopened = performance.now()
      expect(chain.tornBytesTruncated).toBeGreaterThan(0)
      expect(chain.isHybrid).toBe(false)
      // Every acknowledged entry is there (the kill may land after a later batch was written).
      expect(chain.length).toBeGreaterThanOrEqual(last.length)
      expect(chain.length).toBeLessThan(TOTAL)
      expect(statSync(file).size).toBeGreaterThanOrEqual(last.bytes)
      // The last acknowledged entry, byte for byte where the writer said it ended.
      const acked = JSON.parse(lineEndingAt(file, last.bytes)) as {
        index: number
        entry_hash: string
        signed_payload: { data: number[] }
      }
      expect(acked.index).toBe(last.length - 1)
      expect(acked.entry_hash).toBe(last.head)
      const data = JSON.parse(Buffer.from(acked.signed_payload.data).toString('utf8')) as { principal_id: string }
      expect(data.principal_id).toBe(`agent-${last.length - 1}`)
      if (chain.length === last.length) expect(chain.headHash).toBe(last.head)

      // Continue the same chain to exactly TOTAL, yielding between group commits.
      let len = chain.length
      while (len < TOTAL) {
        const n = Math.min(BATCH, TOTAL - len)
        expect(chain.appendBatch(Array.from({ length: n }, (_, k) => entryFor(len + k)))).toBe(len + n)
        len += n
        await new Promise((r) => setImmediate(r))
      }
      expect(chain.length).toBe(TOTAL)
      expect(chain.durableLength).toBe(TOTAL)
      const finalHead = chain.headHash
      const tAppended = performance.now()
      chain.close()

      // Final check: a reopen verifies all 100,000 entries (streaming) and lands on the same head.
      const reopened = SignedAuditChain.openFile(file, kp, { hybrid: false })
      expect(reopened.length).toBe(TOTAL)
      expect(reopened.headHash).toBe(finalHead)
      expect(reopened.tornBytesTruncated).toBe(0)
      reopened.close()
      const tDone = performance.now()
      const s = (a: number, b: number) => ((b - a) / 1000).toFixed(1)
      console.info(
        `audit-durable: writer ${s(t0, tKilled)} s (killed at ${last.length} acked), reopen+verify ${s(tKilled, tReopened)} s, ` +
          `append to ${TOTAL} ${s(tReopened, tAppended)} s, final reopen+verify ${s(tAppended, tDone)} s, total ${s(t0, tDone)} s`,
      )
    },
    CRASH_TEST_TIMEOUT_MS,
  )

  it('close() flushes, releases the lock (a second openFile fails while open, succeeds after) and refuses appends', () => {
    const kp = KavachKeyPair.generate()
    const file = join(dir, 'close.jsonl')
    const c = SignedAuditChain.openFile(file, kp, { hybrid: false, syncEvery: 10 })
    c.appendBatch([entryFor(0), entryFor(1)])
    c.append(entryFor(2))
    expect(c.durableLength).toBe(2)
    expect(() => SignedAuditChain.openFile(file, kp)).toThrow(IoError)
    expect(() => SignedAuditChain.openFile(file, kp)).toThrow(/locked by another writer/)
    expect(c.isClosed).toBe(false)
    c.close()
    expect(c.isClosed).toBe(true)
    expect(c.durableLength).toBe(3)
    c.close() // idempotent
    for (const attempt of [() => c.append(entryFor(3)), () => c.appendBatch([entryFor(3)])]) {
      let caught: unknown
      try {
        attempt()
      } catch (e) {
        caught = e
      }
      expect(caught).toBeInstanceOf(ChainClosedError)
      expect((caught as ChainClosedError).code).toBe('CHAIN_CLOSED')
      expect((caught as Error).message).toMatch(/close\(\)/)
    }
    // Reads and a checkpoint still work on the closed chain.
    expect(c.length).toBe(3)
    expect(c.verify(kp.publicKeys())).toBe(3)
    const cp = c.checkpoint()

    // A PQ-only file is reopened by asking for PQ-only (the default is the key's mode, hybrid).
    expect(() => SignedAuditChain.openFile(file, kp)).toThrow(AlgorithmMismatchError)
    const d = SignedAuditChain.openFile(file, kp, { hybrid: false })
    expect(d.length).toBe(3)
    expect(d.headHash).toBe(c.headHash)
    expect(d.append(entryFor(3))).toBe(4)
    d.close()
    expect(SignedAuditChain.verifyJsonl(d.exportJsonl(), kp.publicKeys(), { hybrid: false, checkpoint: cp })).toBe(4)

    const m = new SignedAuditChain(kp, false)
    m.append(entryFor(0))
    m.close()
    expect(() => m.append(entryFor(1))).toThrow(ChainClosedError)
    expect(m.verify(kp.publicKeys())).toBe(1)
  })

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
    c.close()
  })
})
