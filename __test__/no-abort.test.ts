// No input from JS aborts the process: every napi entry point is `#[napi(catch_unwind)]`, so a
// Rust panic becomes an Error with code INTERNAL naming the entry point, and the process keeps
// running. The panic is forced through the cargo feature `test-faults` (fault `entry`), compiled
// only into a debug addon built here; the run is a child process, so an abort fails the test
// instead of vitest.

import { spawnSync } from 'node:child_process'
import { join } from 'node:path'

import { beforeAll, expect, test } from 'vitest'

import { buildTestFaultsAddon } from './fixtures/test-faults-addon'

const ROOT = join(__dirname, '..')
let addon = ''

beforeAll(() => {
  addon = buildTestFaultsAddon()
}, 1_200_000)

test('a panic in a sync method, a getter, a constructor or gate.evaluate is an INTERNAL error naming the entry point; the process lives on', () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(__dirname, 'fixtures/no-abort.ts')], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 30_000,
    env: { ...process.env, NAPI_RS_NATIVE_LIBRARY_PATH: addon },
  })
  expect(r.error, 'the child must exit by itself').toBeUndefined()
  expect(r.signal, r.stderr).toBeNull()
  expect(r.status, r.stderr).toBe(0)
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!)
  expect(out.method).toMatchObject({ threw: true, isError: true, code: 'INTERNAL' })
  expect(out.method.message).toMatch(/^PublicKeyDirectory\.fetch: internal error in the native addon .*forced panic/)
  expect(out.methodAfter).toEqual({ threw: false })
  expect(out.getter).toMatchObject({ threw: true, isError: true, code: 'INTERNAL' })
  expect(out.getter.message).toMatch(/^PublicKeyDirectory\.keyIds: internal error in the native addon .*forced panic/)
  expect(out.getterAfter).toEqual({ threw: false })
  expect(out.ctor).toMatchObject({ threw: true, isError: true, code: 'INTERNAL' })
  expect(out.ctor.message).toMatch(/^DirectoryTokenVerifier constructor: internal error in the native addon .*forced panic/)
  expect(out.ctorAfter).toEqual({ threw: false })
  expect(out.evaluate).toMatchObject({ threw: true, isError: true, code: 'INTERNAL' })
  expect(out.evaluate.message).toMatch(/internal error in the native addon .*forced panic/)
  expect(out.evaluateAfter).toEqual({ kind: 'permit' })
}, 120_000)
