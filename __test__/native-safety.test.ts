// No JS-reachable API lets JS invalidate memory the native side holds: the fast path's scratch
// array (`attachScratch`, reachable through `gate.native`) is re-read from the live array on
// every call (crates/kavach-node/src/context.rs `Scratch`), so a detached or shrunk buffer is
// a clean INTERNAL error, and a length written there is checked against the string before a
// buffer is sized by it. Run in child processes: a crash fails the test, not vitest.

import { spawnSync } from 'node:child_process'
import { join } from 'node:path'

import { expect, test } from 'vitest'

import { FAST_IN_SCRATCH_LEN } from '../src/generated/layout'

test('attachScratch then detaching the buffer (structuredClone transfer): clean errors, never a crash', () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(__dirname, 'fixtures/detach-scratch.ts')], {
    cwd: join(__dirname, '..'),
    encoding: 'utf8',
    timeout: 30_000,
  })
  expect(r.error).toBeUndefined()
  expect(r.signal, r.stderr).toBeNull()
  expect(r.status, r.stderr).toBe(0)
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!)
  expect(out.attached).toBe('returned text')
  expect(out.detached).toMatch(/^INTERNAL: .*scratch array was detached or emptied/)
  expect(out.tsGate).toMatch(/^INTERNAL: /)
  expect(out.shortened).toMatch(/^INTERNAL: .*scratch array was detached or emptied/)
  expect(out.shrunk).toMatch(/^INTERNAL: .*scratch array was detached or emptied/)
  expect(out.tooShort).toBe(`INVALID_ARGUMENT: attachScratch needs a Float64Array of at least ${FAST_IN_SCRATCH_LEN} numbers`)
  expect(out.notAnArray).toMatch(/^INVALID_ARGUMENT: attachScratch needs a Float64Array/)
  expect(out.fresh).toBe('permit')
}, 40_000)

test('a text length slot that claims 10^9 units for a 2-unit string: a clean error on both fast paths, under a 1.5 GB memory limit', () => {
  // The limit turns an allocation sized by the claim (2 GB) into an abort, which this test sees.
  const fixture = join(__dirname, 'fixtures/lying-text-length.cjs')
  const r = spawnSync('sh', ['-c', `ulimit -v 1500000 && exec "${process.execPath}" "${fixture}"`], { encoding: 'utf8', timeout: 30_000 })
  expect(r.error).toBeUndefined()
  expect(r.signal, r.stderr).toBeNull()
  expect(r.status, r.stderr).toBe(0)
  expect(JSON.parse(r.stdout.trim())).toEqual({ sync: 'INTERNAL: fast path: text length mismatch', submit: 'INTERNAL: fast path: text length mismatch' })
}, 40_000)
