// gate.watch: a good edit reloads (event with the policy count, new verdicts), a bad one keeps
// the old set and emits the parse error, close() stops it, and a process that closes its
// watcher exits on its own (no leaked handle).
import { spawnSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'

import { describe, expect, test } from 'vitest'

import { Gate, type KavachError, type PolicyWatcher } from '../index'
import { ensureBuilt, root, tempDir } from './fixtures/cli'

const permit = (action: string): string => `[[policy]]\nname = "p_${action}"\neffect = "permit"\nconditions = [{ action = "${action}" }]\n`
const call = (actionName: string) => ({ principalId: 'u', principalKind: 'user' as const, actionName })

/**
 * Writes `content` until the watcher reports `event`: the OS watch may be armed a moment after
 * chokidar's `ready`, and a write in that moment goes unseen (the content is the same on each
 * write, so repeating it changes nothing else).
 */
async function writeUntil(w: PolicyWatcher, event: 'reload' | 'error', file: string, content: string): Promise<unknown> {
  const seen = new Promise((resolve) => w.once(event, resolve as never))
  writeFileSync(file, content)
  const timer = setInterval(() => writeFileSync(file, content), 250)
  try {
    return await seen
  } finally {
    clearInterval(timer)
  }
}
const ready = (w: PolicyWatcher): Promise<void> => new Promise((resolve) => w.once('ready', resolve))

describe('gate.watch', () => {
  test('reloads on change; a bad file keeps the old set and emits the error; close stops it', async () => {
    const dir = tempDir('watch')
    const file = join(dir, 'policies.toml')
    writeFileSync(file, permit('read'))
    const gate = Gate.fromFile(file)
    const w = gate.watch(file, { debounceMs: 20 })
    await ready(w)
    expect(gate.evaluate(call('write')).kind).toBe('refuse')

    expect(await writeUntil(w, 'reload', file, permit('read') + permit('write'))).toEqual({ path: file, policies: 2 })
    expect(gate.evaluate(call('write')).kind).toBe('permit')

    const err = (await writeUntil(w, 'error', file, '[[policy]]\nname = "broken"\neffect = "allow"\nconditions = []\n')) as KavachError
    expect(err.code).toBe('POLICY_PARSE')
    expect(err.message).toContain("policy 'broken'")
    expect(gate.evaluate(call('write')).kind).toBe('permit')
    expect(gate.policyCount).toBe(2)

    expect(await writeUntil(w, 'reload', file, permit('read'))).toEqual({ path: file, policies: 1 })
    expect(gate.evaluate(call('write')).kind).toBe('refuse')

    await w.close()
    let after = 0
    w.on('reload', () => after++)
    w.on('error', () => after++)
    writeFileSync(file, permit('read') + permit('write'))
    await new Promise((r) => setTimeout(r, 200))
    expect(after).toBe(0)
    expect(gate.evaluate(call('write')).kind).toBe('refuse')
  })

  test('a child process that watches, reloads and closes exits by itself', () => {
    ensureBuilt()
    const dir = tempDir('watch-exit')
    const file = join(dir, 'policies.toml')
    writeFileSync(file, permit('read'))
    const script = `
      const { writeFileSync } = require('node:fs')
      const { Gate } = require(${JSON.stringify(join(root, 'dist/index.js'))})
      const file = ${JSON.stringify(file)}
      const gate = Gate.fromFile(file)
      const w = gate.watch(file, { debounceMs: 10 })
      let t
      const write = () => writeFileSync(file, ${JSON.stringify(permit('read') + permit('write'))})
      w.on('ready', () => { write(); t = setInterval(write, 250) })
      w.on('reload', async ({ policies }) => { clearInterval(t); console.log('reload', policies); await w.close(); await gate.close() })
    `
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20_000 })
    expect(r.signal, 'the process had to be killed: a handle leaked').toBeNull()
    expect(r.stdout).toBe('reload 2\n')
    expect(r.status).toBe(0)
  })
})
