// The short variant of bench/create-close.ts: gates, broadcasters with listeners and Redis
// stores created, used and closed in a loop under --expose-gc, in a child process: active
// handles return to their level after warm-up, RSS stays within the bound, and the process
// exits by itself (a leaked handle would keep it running until the kill).
import { join } from 'node:path'

import { expect, test } from 'vitest'

import { runTsx } from './fixtures/run-tsx'

test('a create/close loop leaks no handles, stays within its RSS bound and exits by itself', async () => {
  const { code, signal, stdout, stderr } = await runTsx(join(__dirname, '..', 'bench', 'create-close.ts'), {
    nodeArgs: ['--expose-gc'],
    args: ['--iterations', '500', '--max-rss-growth', '0.25'],
    killAfterMs: 100_000,
  })
  expect(signal, stderr).toBeNull()
  expect(code, `${stdout}\n${stderr}`).toBe(0)
  const summary = JSON.parse(stdout) as { iterations: number; collected: boolean; handles: { afterWarmup: number; end: number }; ok: boolean }
  expect(summary).toMatchObject({ iterations: 500, collected: true, ok: true })
  expect(summary.handles.end).toBeLessThanOrEqual(summary.handles.afterWarmup)
}, 120_000)
