// Every submitted evaluateAsync settles exactly once (crates/kavach-node/src/completion.rs):
// when its future panics, is dropped unrun, or its completion batch cannot be built, the
// promise rejects with code INTERNAL (never a Permit), its `maxPendingEvaluations` capacity
// comes back, later evaluations still work, and the process exits by itself. The faults are injected through the cargo feature `test-faults`,
// compiled only into a debug addon built here (the dev profile `cargo test` already builds);
// each run is a child process, so a hang or a crash fails the test instead of vitest.

import { spawnSync } from 'node:child_process'
import { join } from 'node:path'

import { beforeAll, describe, expect, test } from 'vitest'

import { REDIS_URL, prefixesCleanedAfterAll } from './fixtures/redis-helpers'
import { buildTestFaultsAddon } from './fixtures/test-faults-addon'

const ROOT = join(__dirname, '..')
const prefix = prefixesCleanedAfterAll()
let addon = ''

beforeAll(() => {
  addon = buildTestFaultsAddon()
}, 1_200_000)

function runFault(fault: string, route: string): { before: string; faulted: Record<string, string>; pendingAfterFault: number; after: string } {
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', join(__dirname, 'fixtures/settle-once.ts'), fault, route, REDIS_URL, prefix(`settle-${fault}-${route}`)],
    { cwd: ROOT, encoding: 'utf8', timeout: 30_000, env: { ...process.env, NAPI_RS_NATIVE_LIBRARY_PATH: addon } },
  )
  expect(r.error, 'the child must exit by itself').toBeUndefined()
  expect(r.status, r.stderr).toBe(0)
  return JSON.parse(r.stdout.trim().split('\n').pop()!)
}

describe('every submitted evaluation settles exactly once', () => {
  for (const route of ['loop', 'pool']) {
    test.each(['panic', 'drop', 'batch'])(`%s on the ${route} route: INTERNAL rejection, nothing left pending, later evaluations work, exit`, (fault) => {
      const out = runFault(fault, route)
      expect(out.before).toBe('permit')
      expect(out.faulted.settled).toBe('rejected')
      expect(out.faulted.code).toBe('INTERNAL')
      expect(out.faulted.message).toMatch(fault === 'batch' ? /could not be delivered/ : /ended without a verdict/)
      expect(out.pendingAfterFault).toBe(0)
      expect(out.after).toBe('permit')
    }, 60_000)
  }
})
