// `kavach audit verify` on a terminal: run the built binary under a real pseudo-terminal
// (util-linux `script`, installed by .ci/run when missing) on a chain long enough for the
// progress bar to step (it verifies growing prefixes from 1,024 entries), and read what the
// terminal showed. The piped case (no bar) is in cli-keys.test.ts.
import { spawnSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'

import { beforeAll, describe, expect, test } from 'vitest'

import { AuditEntry, KavachKeyPair, SignedAuditChain } from '../index'
import { BIN, ensureBuilt, root, tempDir } from './fixtures/cli'

const ENTRIES = 3000

beforeAll(ensureBuilt, 120_000)

/** Single-quoted for `sh -c`. */
const sh = (s: string): string => `'${s.replace(/'/g, "'\\''")}'`

describe('kavach audit verify on a terminal', () => {
  test('draws a progress bar with entries/s and ETA, then the result', () => {
    const dir = tempDir('progress')
    const kp = KavachKeyPair.generate()
    const chain = new SignedAuditChain(kp)
    chain.appendBatch(Array.from({ length: ENTRIES }, (_, i) => AuditEntry.new(`agent-${i % 5}`, 'issue_refund', 'permit', `detail ${i}`)))
    const file = join(dir, 'chain.jsonl')
    const bundle = join(dir, 'key.public.json')
    writeFileSync(file, chain.exportJsonl())
    writeFileSync(bundle, kp.publicKeys().toJSON())

    const cmd = [process.execPath, BIN, 'audit', 'verify', file, '--bundle', bundle].map(sh).join(' ')
    // `script -q -e -c CMD /dev/null`: CMD on a new pseudo-terminal (stdin, stdout and stderr
    // all a TTY), its output copied to ours, its exit status returned.
    const r = spawnSync('script', ['-qfec', cmd, '/dev/null'], { cwd: root, encoding: 'utf8', env: { ...process.env, COLUMNS: '120', TERM: 'xterm' }, timeout: 120_000 })
    expect(r.error).toBeUndefined()
    expect(r.status, r.stdout + r.stderr).toBe(0)
    const screen = r.stdout
    expect(screen).toMatch(/verifying \[[█░]+\] \d+\/3000 entries \| \d+ entries\/s \| ETA \S+/)
    expect(screen).toContain(`3000/${ENTRIES} entries`)
    expect(screen).toContain(`ok  ${file}: ${ENTRIES} entries verified`)
  }, 180_000)
})
