// gate.watch: a good edit reloads (event with the policy count, new verdicts), a bad one keeps
// the old set and emits the parse error (or, with no 'error' listener, a process warning), a
// throwing listener never stops the watcher, a file rewritten in place is not loaded
// half-written, a deleted or replaced file (or directory) is followed, arguments are checked,
// close() stops it, and a process that closes its watcher exits on its own (no leaked handle).
import { spawnSync } from 'node:child_process'
import { closeSync, mkdirSync, openSync, renameSync, rmSync, rmdirSync, symlinkSync, unlinkSync, writeFileSync, writeSync } from 'node:fs'
import { join } from 'node:path'

import { afterEach, describe, expect, test } from 'vitest'

import { Gate, InvalidArgumentError, type KavachError, type PolicyWatcher } from '../index'
import { ensureBuilt, root, tempDir } from './fixtures/cli'

const permit = (action: string): string => `[[policy]]\nname = "p_${action}"\neffect = "permit"\nconditions = [{ action = "${action}" }]\n`
const call = (actionName: string) => ({ principalId: 'u', principalKind: 'user' as const, actionName })
const kind = (gate: Gate, action: string) => gate.evaluate(call(action)).kind
/** Short enough for a quick test; the writes below come in one call or far apart. */
const FAST = { debounceMs: 20, stabilityMs: 50 }
/** The longest any awaited event may take (a bound, not a speed requirement). */
const WAIT_MS = 15_000

/** The next `event` of `w` whose argument passes `accept`; rejects after WAIT_MS naming the event. */
function next(w: PolicyWatcher, event: 'reload' | 'error', accept: (arg: never) => boolean = () => true): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      w.off(event, on as never)
      reject(new Error(`no '${event}' event within ${WAIT_MS} ms`))
    }, WAIT_MS)
    const on = (arg: never) => {
      if (!accept(arg)) return
      clearTimeout(timer)
      w.off(event, on as never)
      resolve(arg)
    }
    w.on(event, on as never)
  })
}
/** The next `error` event, checked to be an IoError whose message contains `text`. */
async function nextIoError(w: PolicyWatcher, text: string): Promise<void> {
  const err = (await next(w, 'error')) as KavachError
  expect(err.code).toBe('IO')
  expect(err.message).toContain(text)
}

/**
 * Writes `content` until the watcher reports `event`: the OS watch may be armed a moment after
 * chokidar's `ready`, and a write in that moment goes unseen (the content is the same on each
 * write, so repeating it changes nothing else; the interval is longer than FAST's delays).
 */
async function writeUntil(w: PolicyWatcher, event: 'reload' | 'error', file: string, content: string, everyMs = 250): Promise<unknown> {
  const seen = next(w, event)
  writeFileSync(file, content)
  const timer = setInterval(() => writeFileSync(file, content), everyMs)
  try {
    return await seen
  } finally {
    clearInterval(timer)
  }
}
const ready = (w: PolicyWatcher): Promise<void> => new Promise((resolve) => w.once('ready', resolve))

type Warning = Error & { code?: string }
/** Process warnings emitted while a test runs (removed after each test). */
const warningSinks: ((w: Warning) => void)[] = []
afterEach(() => {
  for (const sink of warningSinks.splice(0)) process.off('warning', sink)
})
function warnings(): { list: Warning[]; next: (code: string) => Promise<Warning> } {
  const list: Warning[] = []
  const waiters: { code: string; resolve: (w: Warning) => void }[] = []
  const sink = (w: Warning) => {
    list.push(w)
    for (const waiter of waiters.filter((x) => x.code === w.code)) {
      waiters.splice(waiters.indexOf(waiter), 1)
      waiter.resolve(w)
    }
  }
  process.on('warning', sink)
  warningSinks.push(sink)
  const nextWarning = (code: string): Promise<Warning> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no warning ${code} within ${WAIT_MS} ms`)), WAIT_MS)
      waiters.push({
        code,
        resolve: (w) => {
          clearTimeout(timer)
          resolve(w)
        },
      })
    })
  return { list, next: nextWarning }
}

const watchers: PolicyWatcher[] = []
const gates: Gate[] = []
afterEach(async () => {
  await Promise.all(watchers.splice(0).map((w) => w.close()))
  await Promise.all(gates.splice(0).map((g) => g.close()))
})
function watched(file: string, options: object = FAST): { gate: Gate; w: PolicyWatcher } {
  const gate = Gate.fromFile(file)
  gates.push(gate)
  const w = gate.watch(file, options)
  watchers.push(w)
  return { gate, w }
}

describe('gate.watch', () => {
  test('a save made while the watch is being armed (same tick as watch()) is loaded', async () => {
    const dir = tempDir('watch-start-race')
    const file = join(dir, 'policies.toml')
    writeFileSync(file, permit('read'))
    const { gate, w } = watched(file)
    const reloaded = next(w, 'reload')
    // An atomic save (write, then rename) before the directory watch is ready: it sends no event.
    writeFileSync(join(dir, 'tmp.toml'), permit('read') + permit('write'))
    renameSync(join(dir, 'tmp.toml'), file)
    expect(await reloaded).toMatchObject({ policies: 2 })
    expect(kind(gate, 'write')).toBe('permit')
  })

  test('reloads on change; a bad file keeps the old set and emits the error; close stops it', async () => {
    const dir = tempDir('watch')
    const file = join(dir, 'policies.toml')
    writeFileSync(file, permit('read'))
    const { gate, w } = watched(file)
    await ready(w)
    expect(kind(gate, 'write')).toBe('refuse')

    expect(await writeUntil(w, 'reload', file, permit('read') + permit('write'))).toEqual({ path: file, policies: 2 })
    expect(kind(gate, 'write')).toBe('permit')

    const err = (await writeUntil(w, 'error', file, '[[policy]]\nname = "broken"\neffect = "allow"\nconditions = []\n')) as KavachError
    expect(err.code).toBe('POLICY_PARSE')
    expect(err.message).toContain("policy 'broken'")
    expect(kind(gate, 'write')).toBe('permit')
    expect(gate.policyCount).toBe(2)

    expect(await writeUntil(w, 'reload', file, permit('read'))).toEqual({ path: file, policies: 1 })
    expect(kind(gate, 'write')).toBe('refuse')

    await w.close()
    let after = 0
    w.on('reload', () => after++)
    w.on('error', () => after++)
    writeFileSync(file, permit('read') + permit('write'))
    await new Promise((r) => setTimeout(r, 300))
    expect(after).toBe(0)
    expect(kind(gate, 'write')).toBe('refuse')
  })

  test('a throwing or rejecting listener is reported as a warning and later saves still reload', async () => {
    const seen = warnings()
    const dir = tempDir('watch-poison')
    const file = join(dir, 'policies.toml')
    writeFileSync(file, permit('v1'))
    const { gate, w } = watched(file)
    const errors: string[] = []
    w.once('error', () => {
      throw new Error('logger down')
    })
    // A listener after the throwing one is still called.
    w.on('error', (e) => errors.push(e.code))
    w.once('reload', async () => {
      throw new Error('metrics sink down')
    })
    await ready(w)

    await writeUntil(w, 'error', file, '[[policy]\n')
    expect(errors).toEqual(['POLICY_PARSE'])
    const thrown = await seen.next('KAVACH_WATCH_LISTENER_FAILED')
    expect(thrown.message).toBe(`kavach: gate.watch('${file}'): a listener of the 'error' event failed (the watcher goes on): logger down`)

    expect(await writeUntil(w, 'reload', file, permit('v2'))).toEqual({ path: file, policies: 1 })
    const rejected = await seen.next('KAVACH_WATCH_LISTENER_FAILED')
    expect(rejected.message).toBe(`kavach: gate.watch('${file}'): a listener of the 'reload' event failed (the watcher goes on): metrics sink down`)
    expect([kind(gate, 'v1'), kind(gate, 'v2')]).toEqual(['refuse', 'permit'])

    // And the one after that: the watcher was not stopped by either listener.
    await writeUntil(w, 'reload', file, permit('v3'))
    expect([kind(gate, 'v2'), kind(gate, 'v3')]).toEqual(['refuse', 'permit'])
    await expect(w.close()).resolves.toBeUndefined()
  })

  test('a file rewritten in place in two writes is loaded whole, never as the first part', async () => {
    const dir = tempDir('watch-partial')
    const file = join(dir, 'policies.toml')
    const OLD = '[[policy]]\nname = "nothing"\neffect = "refuse"\nconditions = []\n'
    // The first table alone is valid TOML that permits everything for `ops`; the second refuses
    // payments.delete. Neither the old file nor the whole new one permits payments.delete.
    const FIRST = '[[policy]]\nname = "ops_everything"\neffect = "permit"\nconditions = [{ identity_role = "ops" }]\n\n'
    const SECOND = '[[policy]]\nname = "never_delete_payments"\neffect = "refuse"\npriority = 10\nconditions = [{ action = "payments.delete" }]\n'
    writeFileSync(file, OLD)
    // The default debounceMs (100) and stabilityMs (1000).
    const { gate, w } = watched(file, {})
    await ready(w)
    // The watch is armed once a write of the same content has been seen.
    await writeUntil(w, 'reload', file, OLD, 2500)
    const ops = (actionName: string) => gate.evaluate({ principalId: 'm', principalKind: 'user', roles: ['ops'], actionName }).kind

    const verdicts = new Set<string>()
    const sample = setInterval(() => verdicts.add(ops('payments.delete')), 5)
    try {
      const reloaded = next(w, 'reload', (info: { policies: number }) => info.policies === 2)
      const fd = openSync(file, 'w')
      writeSync(fd, FIRST)
      // A pause longer than debounceMs, shorter than stabilityMs.
      await new Promise((r) => setTimeout(r, 400))
      writeSync(fd, SECOND)
      closeSync(fd)
      expect(await reloaded).toEqual({ path: file, policies: 2 })
    } finally {
      clearInterval(sample)
    }
    expect([...verdicts]).toEqual(['refuse'])
    expect([ops('payments.delete'), ops('payments.read')]).toEqual(['refuse', 'permit'])
  })

  test('a deleted file, a directory in its place and a removed directory are reported; the file is followed when it is back', async () => {
    const dir = join(tempDir('watch-follow'), 'conf')
    mkdirSync(dir)
    const file = join(dir, 'policies.toml')
    writeFileSync(file, permit('v1'))
    const { gate, w } = watched(file)
    await ready(w)
    await writeUntil(w, 'reload', file, permit('v1'))

    let err = nextIoError(w, 'does not exist (deleted or moved)')
    unlinkSync(file)
    await err
    expect(kind(gate, 'v1')).toBe('permit')

    // Back, then replaced by a directory at once (the name never missing in between).
    expect(await writeUntil(w, 'reload', file, permit('v2'))).toEqual({ path: file, policies: 1 })
    err = nextIoError(w, 'is not a regular file (a directory)')
    rmSync(file)
    mkdirSync(file)
    await err
    expect(kind(gate, 'v2')).toBe('permit')

    // The directory goes and the file is back in the same moment; then edited in place.
    let reloaded = next(w, 'reload', (info: { policies: number }) => info.policies === 1)
    rmdirSync(file)
    writeFileSync(file, permit('v3'))
    await reloaded
    expect([kind(gate, 'v2'), kind(gate, 'v3')]).toEqual(['refuse', 'permit'])
    expect(await writeUntil(w, 'reload', file, permit('v3') + permit('v4'))).toEqual({ path: file, policies: 2 })

    // The whole directory is removed, then created again with a new file.
    err = nextIoError(w, 'does not exist')
    rmSync(dir, { recursive: true })
    await err
    expect(kind(gate, 'v4')).toBe('permit')
    reloaded = next(w, 'reload', (info: { policies: number }) => info.policies === 1)
    mkdirSync(dir)
    writeFileSync(file, permit('v5'))
    expect(await reloaded).toEqual({ path: file, policies: 1 })
    expect([kind(gate, 'v4'), kind(gate, 'v5')]).toEqual(['refuse', 'permit'])
  })

  describe('a symlink along the path re-pointed, the old target kept (the file\'s own name never changes)', () => {
    /** `link` re-pointed to `target` atomically (a new link renamed over it), until the watcher reloads. */
    async function swapUntil(w: PolicyWatcher, link: string, target: string): Promise<unknown> {
      const swap = () => {
        const tmp = `${link}.tmp`
        rmSync(tmp, { force: true })
        symlinkSync(target, tmp)
        renameSync(tmp, link)
      }
      const seen = next(w, 'reload')
      swap()
      const timer = setInterval(swap, 250)
      try {
        return await seen
      } finally {
        clearInterval(timer)
      }
    }
    /** `releases/r1` and `releases/r2` with `policies.toml` each (r2 permits write too), in `dir`. */
    function releases(dir: string): void {
      for (const [r, text] of [['r1', permit('read')], ['r2', permit('read') + permit('write')]] as const) {
        mkdirSync(join(dir, r))
        writeFileSync(join(dir, r, 'policies.toml'), text)
      }
    }

    test('in the file\'s directory: policies.toml -> current/policies.toml, current -> r1 becomes r2 (a ConfigMap\'s ..data)', async () => {
      const dir = tempDir('watch-link-same')
      releases(dir)
      symlinkSync('r1', join(dir, 'current'))
      symlinkSync('current/policies.toml', join(dir, 'policies.toml'))
      const { gate, w } = watched(join(dir, 'policies.toml'))
      await ready(w)
      expect(kind(gate, 'write')).toBe('refuse')
      expect(await swapUntil(w, join(dir, 'current'), 'r2')).toMatchObject({ policies: 2 })
      expect(kind(gate, 'write')).toBe('permit')
      // And back: r2 is kept as well.
      expect(await swapUntil(w, join(dir, 'current'), 'r1')).toMatchObject({ policies: 1 })
      expect(kind(gate, 'write')).toBe('refuse')
    })

    test('in another directory: policies.toml -> ../deploy/current/policies.toml, current re-pointed', async () => {
      const base = tempDir('watch-link-other')
      const deploy = join(base, 'deploy')
      const conf = join(base, 'conf')
      mkdirSync(deploy)
      mkdirSync(conf)
      releases(deploy)
      symlinkSync('r1', join(deploy, 'current'))
      symlinkSync('../deploy/current/policies.toml', join(conf, 'policies.toml'))
      const { gate, w } = watched(join(conf, 'policies.toml'))
      await ready(w)
      expect(kind(gate, 'write')).toBe('refuse')
      expect(await swapUntil(w, join(deploy, 'current'), 'r2')).toMatchObject({ policies: 2 })
      expect(kind(gate, 'write')).toBe('permit')
    })

    test('the file\'s directory is the link: current -> releases/r1 becomes r2, then edits in r2 and atomic saves through current/ load', async () => {
      const base = tempDir('watch-link-dir')
      const rel = join(base, 'releases')
      mkdirSync(rel)
      releases(rel)
      symlinkSync('releases/r1', join(base, 'current'))
      const handles = (): string[] => process.getActiveResourcesInfo().filter((r) => r === 'FSEventWrap' || r === 'StatWatcher')
      const before = handles()
      const file = join(base, 'current', 'policies.toml')
      const { gate, w } = watched(file)
      await ready(w)
      expect(await swapUntil(w, join(base, 'current'), 'releases/r2')).toMatchObject({ policies: 2 })
      // r2 edited in place, at its own path: the watch follows the link to r2.
      const three = permit('read') + permit('write') + permit('delete')
      expect(await writeUntil(w, 'reload', join(rel, 'r2', 'policies.toml'), three)).toMatchObject({ policies: 3 })
      expect(kind(gate, 'delete')).toBe('permit')
      // An atomic save through the link: a temporary file in current/ renamed over the file.
      const four = three + permit('archive')
      const saved = next(w, 'reload', (info: { policies: number }) => info.policies === 4)
      const save = () => {
        writeFileSync(join(base, 'current', 'policies.toml.tmp'), four)
        renameSync(join(base, 'current', 'policies.toml.tmp'), file)
      }
      save()
      const timer = setInterval(save, 250)
      try {
        await saved
      } finally {
        clearInterval(timer)
      }
      expect(kind(gate, 'archive')).toBe('permit')
      await w.close()
      // Every watch handle is released (chokidar lets a closed watch's last handles go on a
      // later turn of the loop).
      for (let i = 0; i < 40 && handles().length !== before.length; i++) await new Promise((r) => setTimeout(r, 50))
      expect(handles()).toEqual(before)
    })
  })

  describe("a symlink's target deleted, then created again once the watcher has reported it missing", () => {
    /** Long enough for every event of the removal to reach the watcher (a pause, not a bound on anything). */
    const PAUSE_MS = 500
    /**
     * Watches `file` (a link leading to `target`, which permits read and wire_money), deletes
     * the target, waits for the watcher to report the file missing, calls `whileMissing`,
     * pauses as an operator would (PAUSE_MS), and writes the target back permitting only read:
     * that set is the one live afterwards, and the missing file was reported once, however
     * many watched names saw it go.
     */
    async function deleteAndRecreate(file: string, target: string, whileMissing = (): void => {}): Promise<void> {
      writeFileSync(target, permit('read') + permit('wire_money'))
      const { gate, w } = watched(file)
      await ready(w)
      expect(kind(gate, 'wire_money')).toBe('permit')

      const reported: string[] = []
      w.on('error', (e) => reported.push(e.message))
      const err = nextIoError(w, `policy file '${file}' does not exist (deleted or moved)`)
      unlinkSync(target)
      await err
      expect(kind(gate, 'wire_money')).toBe('permit')
      whileMissing()
      await new Promise((r) => setTimeout(r, PAUSE_MS))

      expect(await writeUntil(w, 'reload', target, permit('read'))).toEqual({ path: file, policies: 1 })
      expect([kind(gate, 'read'), kind(gate, 'wire_money')]).toEqual(['permit', 'refuse'])
      expect(reported).toEqual([
        `policy file '${file}' does not exist (deleted or moved): the previous policy set stays live, and the file is loaded again when it is back`,
      ])
    }

    test('in the same directory: policies.toml -> live.toml', async () => {
      const dir = tempDir('watch-target-same')
      symlinkSync('live.toml', join(dir, 'policies.toml'))
      await deleteAndRecreate(join(dir, 'policies.toml'), join(dir, 'live.toml'))
    })

    test('in another directory: conf/policies.toml -> /abs/real/live.toml', async () => {
      const base = tempDir('watch-target-other')
      mkdirSync(join(base, 'conf'))
      mkdirSync(join(base, 'real'))
      symlinkSync(join(base, 'real', 'live.toml'), join(base, 'conf', 'policies.toml'))
      await deleteAndRecreate(join(base, 'conf', 'policies.toml'), join(base, 'real', 'live.toml'))
    })

    test('through two links: conf/policies.toml -> ../links/current.toml -> /abs/real/live.toml', async () => {
      const base = tempDir('watch-target-chain')
      for (const d of ['conf', 'links', 'real']) mkdirSync(join(base, d))
      symlinkSync(join(base, 'real', 'live.toml'), join(base, 'links', 'current.toml'))
      symlinkSync('../links/current.toml', join(base, 'conf', 'policies.toml'))
      await deleteAndRecreate(join(base, 'conf', 'policies.toml'), join(base, 'real', 'live.toml'))
    })

    test("and the target's directory removed and created again: conf/policies.toml -> ../real/live.toml", async () => {
      const base = tempDir('watch-target-dir')
      mkdirSync(join(base, 'conf'))
      mkdirSync(join(base, 'real'))
      symlinkSync('../real/live.toml', join(base, 'conf', 'policies.toml'))
      // The OS watch on the removed directory ends with it, though a directory of that name is
      // back before the watcher sees the removal.
      await deleteAndRecreate(join(base, 'conf', 'policies.toml'), join(base, 'real', 'live.toml'), () => {
        rmdirSync(join(base, 'real'))
        mkdirSync(join(base, 'real'))
      })
    })
  })

  test('a path whose directory does not exist yet: ready, an error, then the file once it is created', async () => {
    const dir = join(tempDir('watch-later'), 'conf')
    const file = join(dir, 'policies.json')
    const gate = Gate.fromObject({ policies: [] })
    gates.push(gate)
    const w = gate.watch(file, FAST)
    watchers.push(w)
    const err = nextIoError(w, 'does not exist')
    await ready(w)
    await err
    const reloaded = next(w, 'reload')
    mkdirSync(dir)
    writeFileSync(file, JSON.stringify({ policies: [{ name: 'j', effect: 'permit', conditions: [{ action: 'read' }] }] }))
    expect(await reloaded).toEqual({ path: file, policies: 1 })
    expect(kind(gate, 'read')).toBe('permit')
  })

  test('bad arguments are InvalidArgumentError naming the argument and what was given', () => {
    const gate = Gate.fromObject({ policies: [] })
    gates.push(gate)
    const file = join(tempDir('watch-args'), 'p.toml')
    const bad: [unknown[], RegExp][] = [
      [[123], /^gate\.watch: path must be a non-empty string, got number$/],
      [[], /^gate\.watch: path must be a non-empty string, got undefined$/],
      [[''], /^gate\.watch: path must be a non-empty string, got ''$/],
      [['a\0b'], /^gate\.watch: path must not contain a NUL byte/],
      [[file, 100], /^gate\.watch: options must be an object, got number$/],
      [[file, { debounceMs: -1 }], /^gate\.watch: option 'debounceMs' must be a number of milliseconds from 0 to 2147483647, got number -1$/],
      [[file, { debounceMs: '100' }], /option 'debounceMs' must be .*, got string '100'$/],
      [[file, { debounceMs: Number.NaN }], /option 'debounceMs' must be .*, got number NaN$/],
      [[file, { stabilityMs: Number.POSITIVE_INFINITY }], /option 'stabilityMs' must be .*, got number Infinity$/],
      [[file, { stabilityMs: 2 ** 31 }], /option 'stabilityMs' must be .*, got number 2147483648$/],
      [[file, { debounce: 100 }], /^gate\.watch: unknown option\(s\) 'debounce' \(expected 'debounceMs', 'stabilityMs'\)$/],
    ]
    for (const [args, message] of bad) {
      let thrown: unknown
      try {
        ;(gate.watch as (...a: unknown[]) => PolicyWatcher)(...args)
      } catch (e) {
        thrown = e
      }
      expect(thrown, `gate.watch(${args.map(String).join(', ')})`).toBeInstanceOf(InvalidArgumentError)
      expect((thrown as KavachError).code).toBe('INVALID_ARGUMENT')
      expect((thrown as Error).message).toMatch(message)
    }
  })
})

/**
 * The start of a child process's script: the built package, a gate on `file` watching it with
 * short delays (`gate`, `w`), `writeFileSync` and a timer variable `t`.
 */
function watchingChild(file: string): string {
  return `
      const { writeFileSync } = require('node:fs')
      const { Gate } = require(${JSON.stringify(join(root, 'dist/index.js'))})
      const file = ${JSON.stringify(file)}
      const gate = Gate.fromFile(file)
      const w = gate.watch(file, { debounceMs: 10, stabilityMs: 50 })
      let t`
}

describe('gate.watch in a child process', () => {
  test('with no error listener, a bad save is a process warning: the process lives on and the next good save loads', () => {
    ensureBuilt()
    const dir = tempDir('watch-nolistener')
    const file = join(dir, 'policies.toml')
    writeFileSync(file, permit('read'))
    const script = `${watchingChild(file)}
      const writing = (content) => { clearInterval(t); writeFileSync(file, content); t = setInterval(() => writeFileSync(file, content), 250) }
      let warned = false
      process.on('warning', (warning) => {
        if (warning.code !== 'POLICY_PARSE' || warned) return
        warned = true
        console.log(JSON.stringify({ name: warning.name, code: warning.code, message: warning.message, policies: gate.policyCount }))
        w.once('reload', async ({ policies }) => {
          clearInterval(t)
          console.log('reload', policies, gate.evaluate({ principalId: 'u', principalKind: 'user', actionName: 'write' }).kind)
          await w.close()
          await gate.close()
        })
        writing(${JSON.stringify(permit('read') + permit('write'))})
      })
      w.on('ready', () => writing('[[policy]\\n'))
    `
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 30_000 })
    expect(r.signal, `killed; stderr: ${r.stderr}`).toBeNull()
    expect(r.status, r.stderr).toBe(0)
    const [first, second] = r.stdout.trim().split('\n')
    const warning = JSON.parse(first!) as { name: string; code: string; message: string; policies: number }
    expect(warning).toMatchObject({ name: 'PolicyParseError', code: 'POLICY_PARSE', policies: 1 })
    expect(warning.message).toContain(`gate.watch('${file}'): invalid TOML`)
    expect(warning.message).toContain('the previous policy set stays live')
    expect(second).toBe('reload 2 permit')
  })

  test('with no error listener, a deleted file is an IO warning that says once that the previous set stays live', () => {
    ensureBuilt()
    const dir = tempDir('watch-deleted')
    const file = join(dir, 'policies.toml')
    writeFileSync(file, permit('read'))
    const script = `${watchingChild(file)}
      process.on('warning', async (warning) => {
        if (warning.code !== 'IO') return
        console.log(JSON.stringify({ name: warning.name, message: warning.message, policies: gate.policyCount }))
        await w.close()
        await gate.close()
      })
      w.on('ready', () => require('node:fs').unlinkSync(file))
    `
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 30_000 })
    expect(r.signal, `killed; stderr: ${r.stderr}`).toBeNull()
    expect(r.status, r.stderr).toBe(0)
    const warning = JSON.parse(r.stdout.trim().split('\n')[0]!) as { name: string; message: string; policies: number }
    expect(warning).toMatchObject({ name: 'IoError', policies: 1 })
    expect(warning.message).toBe(
      `gate.watch('${file}'): policy file '${file}' does not exist (deleted or moved): the previous policy set stays live, ` +
        "and the file is loaded again when it is back (add an 'error' listener to the watcher to handle this)",
    )
  })

  test('a child process that watches, reloads and closes exits by itself', () => {
    ensureBuilt()
    const dir = tempDir('watch-exit')
    const file = join(dir, 'policies.toml')
    writeFileSync(file, permit('read'))
    const script = `${watchingChild(file)}
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
