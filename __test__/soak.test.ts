// The short variant of `npm run soak` (bench/soak.ts): a few seconds of the same mixed traffic
// in a child process, which must finish without errors or unsettled promises and exit by
// itself (a leaked handle would keep it running until the kill). RSS growth is judged by the
// full soak only.
import { join } from 'node:path'

import { expect, test } from 'vitest'

import { runTsx } from './fixtures/run-tsx'

test('a short soak: mixed traffic, no errors, every promise settles, the process exits by itself', async () => {
  const { code, signal, stdout, stderr } = await runTsx(join(__dirname, '..', 'bench', 'soak.ts'), {
    args: ['--seconds', '3', '--sample-ms', '500', '--no-rss-check'],
    killAfterMs: 50_000,
  })
  expect(signal, stderr).toBeNull()
  expect(code, stderr).toBe(0)
  const summary = JSON.parse(stdout) as Record<string, unknown>
  expect(summary).toMatchObject({ errors: 0, firstErrors: [], unsettled: 0, ok: true })
  for (const counter of ['rounds', 'evaluations', 'signedPermits', 'auditAppends', 'gatesCreatedAndClosed', 'listenersCreatedAndAborted']) {
    expect(summary[counter], counter).toBeGreaterThan(0)
  }
  expect((summary.samplesMiB as number[]).length).toBeGreaterThanOrEqual(2)
}, 60_000)
