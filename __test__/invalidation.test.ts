// Invalidation through the public API: the in-memory broadcaster, listeners on the event loop,
// fan-out to several gates ("replicas" in one process), principal/role scopes and lift, and a
// listener that lets the process exit after abort().

import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'

import { afterEach, describe, expect, test, vi } from 'vitest'

import {
  Gate,
  InMemoryInvalidationBroadcaster,
  InvalidArgumentError,
  spawnInvalidationListener,
  type EvaluateOptions,
  type InvalidationListenerHandle,
  type InvalidationScope,
  type ScopeKind,
  type Verdict,
} from '../index'
import { runTsx, type ChildResult } from './fixtures/run-tsx'

const REPO_ROOT = resolve(__dirname, '..')
const PERMIT_ALL = { policies: [{ name: 'all', effect: 'permit' as const, conditions: [] }] }
const IP_A = '203.0.113.7'
const IP_B = '198.51.100.9'

const handles: InvalidationListenerHandle[] = []
afterEach(() => {
  for (const h of handles.splice(0)) h.abort()
  vi.restoreAllMocks()
})

function listen(bc: InMemoryInvalidationBroadcaster, cb: (s: InvalidationScope) => unknown): InvalidationListenerHandle {
  const h = spawnInvalidationListener(bc, cb)
  handles.push(h)
  return h
}

function recorder(bc: InMemoryInvalidationBroadcaster): InvalidationScope[] {
  const seen: InvalidationScope[] = []
  listen(bc, (s) => {
    seen.push(s)
  })
  return seen
}

const refund = (principalId: string, extra: Partial<EvaluateOptions> = {}): EvaluateOptions => ({
  principalId,
  principalKind: 'agent',
  actionName: 'issue_refund',
  ...extra,
})

function expectRevoked(v: Verdict, reasonPart: string): void {
  expect(v.kind).toBe('refuse')
  expect(v.code).toBe('SESSION_INVALID')
  expect(v.evaluator).toBe('gate')
  expect(v.reason).toContain(reasonPart)
}

describe('InMemoryInvalidationBroadcaster', () => {
  test('publish delivers every field to a listener on the event loop', async () => {
    const bc = new InMemoryInvalidationBroadcaster()
    const seen = recorder(bc)
    bc.publish('session', 's-1', 'stolen laptop', 'ops')
    bc.publish('principal', 'agent-7', 'credentials leaked')
    // Delivery goes through the event loop, never synchronously inside publish().
    expect(seen).toEqual([])
    await vi.waitFor(() => expect(seen).toHaveLength(2))
    expect(seen).toEqual([
      { targetKind: 'session', targetId: 's-1', reason: 'stolen laptop', evaluator: 'ops' },
      { targetKind: 'principal', targetId: 'agent-7', reason: 'credentials leaked', evaluator: 'manual' },
    ])
  })

  test('an unknown kind is a clear INVALID_ARGUMENT error', () => {
    const bc = new InMemoryInvalidationBroadcaster()
    let err: unknown
    try {
      bc.publish('tenant' as ScopeKind, 'acme', 'x')
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(InvalidArgumentError)
    expect((err as InvalidArgumentError).code).toBe('INVALID_ARGUMENT')
    expect((err as Error).message).toBe("targetKind must be one of session, principal, role (got 'tenant')")
    expect(() => bc.publish('session', '', 'x')).toThrow(InvalidArgumentError)
  })

  test('spawnInvalidationListener: a callback that is no function, or a broadcaster that is no object, is INVALID_ARGUMENT naming it', () => {
    const bc = new InMemoryInvalidationBroadcaster()
    const spawn = spawnInvalidationListener as (...args: unknown[]) => InvalidationListenerHandle
    const refusal = (...args: unknown[]): unknown => {
      try {
        handles.push(spawn(...args))
      } catch (e) {
        return e
      }
      return undefined
    }
    for (const [callback, kind] of [['cb', 'string'], [undefined, 'undefined'], [null, 'null'], [{}, 'object'], [7, 'number']] as const) {
      const err = refusal(bc, callback)
      expect(err, kind).toBeInstanceOf(InvalidArgumentError)
      expect((err as InvalidArgumentError).code).toBe('INVALID_ARGUMENT')
      expect((err as Error).message).toBe(`spawnInvalidationListener: callback must be a function (got ${kind})`)
    }
    for (const [broadcaster, kind] of [['bc', 'string'], [undefined, 'undefined'], [null, 'null'], [42, 'number']] as const) {
      const err = refusal(broadcaster, () => {})
      expect(err, kind).toBeInstanceOf(InvalidArgumentError)
      expect((err as Error).message).toBe(`spawnInvalidationListener: broadcaster must be an InMemoryInvalidationBroadcaster or RedisInvalidationBroadcaster (got ${kind})`)
    }
    // An object of another class is refused by the native side (napi type tags).
    expect(refusal({}, () => {})).toBeInstanceOf(InvalidArgumentError)
    expect(bc.subscriberCount).toBe(0)
  })

  test('subscriberCount follows gates and listeners; abort() is idempotent', () => {
    const bc = new InMemoryInvalidationBroadcaster()
    expect(bc.subscriberCount).toBe(0)
    Gate.fromObject(PERMIT_ALL, { broadcaster: bc })
    expect(bc.subscriberCount).toBe(1)
    const h = listen(bc, () => {})
    expect(bc.subscriberCount).toBe(2)
    expect(h.isFinished).toBe(false)
    h.abort()
    expect(h.isFinished).toBe(true)
    expect(bc.subscriberCount).toBe(1)
    h.abort()
    expect(h.isFinished).toBe(true)
    expect(bc.subscriberCount).toBe(1)
  })

  test('late subscribers miss earlier messages; aborted listeners hear nothing more', async () => {
    const bc = new InMemoryInvalidationBroadcaster()
    const early = recorder(bc)
    bc.publish('role', 'support', 'before')
    const late = recorder(bc)
    const stopped: InvalidationScope[] = []
    listen(bc, (s) => {
      stopped.push(s)
    }).abort()
    bc.publish('role', 'support', 'after')
    await vi.waitFor(() => expect(early).toHaveLength(2))
    await vi.waitFor(() => expect(late).toHaveLength(1))
    expect(late[0].reason).toBe('after')
    expect(stopped).toEqual([])
  })

  test('a callback that throws is reported on stderr and the listener keeps going', async () => {
    const bc = new InMemoryInvalidationBroadcaster()
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {})
    const heard: string[] = []
    listen(bc, (s) => {
      heard.push(s.targetId)
      if (s.targetId === 'boom') throw new Error('listener bug')
    })
    listen(bc, async (s) => {
      if (s.targetId === 'boom') throw new Error('async listener bug')
    })
    bc.publish('session', 'boom', 'x')
    bc.publish('session', 'after-boom', 'x')
    await vi.waitFor(() => expect(heard).toEqual(['boom', 'after-boom']))
    await vi.waitFor(() => expect(errors).toHaveBeenCalledTimes(2))
    const reported = errors.mock.calls.map(([prefix, thrown]) => [String(prefix), (thrown as Error).message])
    expect(reported).toContainEqual([expect.stringContaining('invalidation listener callback failed'), 'listener bug'])
    expect(reported).toContainEqual([expect.stringContaining('invalidation listener callback failed'), 'async listener bug'])
  })
})

describe('fan-out: one broadcaster, three gates, three listeners', () => {
  function replicas() {
    const bc = new InMemoryInvalidationBroadcaster()
    const gates = [0, 1, 2].map(() => Gate.fromObject(PERMIT_ALL, { broadcaster: bc }))
    const heard = [recorder(bc), recorder(bc), recorder(bc)]
    return { bc, gates, heard }
  }

  test('drift on one replica revokes the session on all, and every listener hears it', async () => {
    const { bc, gates, heard } = replicas()
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {})
    // A broken metrics hook among the listeners.
    listen(bc, () => {
      throw new Error('metrics exporter down')
    })
    expect(bc.subscriberCount).toBe(3 + 4)
    const session = refund('fan-agent', { sessionId: 'fan-s1' })
    for (const g of gates) expect(g.evaluate({ ...session, ip: IP_A }).kind).toBe('permit')

    const v = gates[1].evaluate({ ...session, ip: IP_B })
    expect(v.kind).toBe('invalidate')
    expect(v.evaluator).toBe('drift')

    // Revocation reaches the other gates before evaluate() returns (in-process delivery).
    for (const g of gates) expectRevoked(g.evaluate({ ...session, ip: IP_A }), "session 'fan-s1' revoked by drift: ip changed")
    // The same principal in another session is fine everywhere.
    for (const g of gates) expect(g.evaluate(refund('fan-agent', { sessionId: 'fan-s2', ip: IP_A })).kind).toBe('permit')

    await vi.waitFor(() => expect(heard.map((h) => h.length)).toEqual([1, 1, 1]))
    for (const h of heard) {
      expect(h[0]).toEqual({ targetKind: 'session', targetId: 'fan-s1', reason: v.reason, evaluator: 'drift' })
    }
    await vi.waitFor(() => expect(errors).toHaveBeenCalled())
  })

  test('evaluateAsync publishes too (delivery from the async pipeline)', async () => {
    const { gates, heard } = replicas()
    const session = refund('fan-async', { sessionId: 'fan-async-s1' })
    expect((await gates[2].evaluateAsync({ ...session, device: { hash: 'd1' } })).kind).toBe('permit')
    const v = await gates[2].evaluateAsync({ ...session, device: { hash: 'd2' } })
    expect(v.kind).toBe('invalidate')
    for (const g of gates) expect((await g.evaluateAsync(session)).code).toBe('SESSION_INVALID')
    await vi.waitFor(() => expect(heard.map((h) => h.length)).toEqual([1, 1, 1]))
    expect(heard[0][0]).toMatchObject({ targetKind: 'session', targetId: 'fan-async-s1', evaluator: 'drift' })
  })

  test('a principal scope blocks that principal on every gate; lift restores it per gate', async () => {
    const { bc, gates, heard } = replicas()
    bc.publish('principal', 'agent-9', 'credentials leaked')
    for (const g of gates) {
      expectRevoked(g.evaluate(refund('agent-9')), "principal 'agent-9' revoked by manual: credentials leaked")
      expectRevoked(g.evaluate(refund('agent-9', { sessionId: 'any' })), "principal 'agent-9'")
      expect(g.evaluate(refund('agent-10')).kind).toBe('permit')
    }
    gates[0].lift({ targetKind: 'principal', targetId: 'agent-9' })
    expect(gates[0].evaluate(refund('agent-9')).kind).toBe('permit')
    expect(gates[1].evaluate(refund('agent-9')).code).toBe('SESSION_INVALID')
    for (const g of gates) g.lift({ targetKind: 'principal', targetId: 'agent-9' })
    for (const g of gates) expect(g.evaluate(refund('agent-9')).kind).toBe('permit')
    await vi.waitFor(() => expect(heard.map((h) => h.length)).toEqual([1, 1, 1]))
  })

  test('a role scope blocks any principal holding the role', () => {
    const { bc, gates } = replicas()
    bc.publish('role', 'support', 'incident 42', 'secops')
    for (const g of gates) {
      expectRevoked(
        g.evaluate(refund('bob', { roles: ['viewer', 'support'] })),
        "role 'support' of principal 'bob' revoked by secops: incident 42",
      )
      expect(g.evaluate(refund('carol', { roles: ['viewer'] })).kind).toBe('permit')
      g.lift({ targetKind: 'role', targetId: 'support' })
      expect(g.evaluate(refund('bob', { roles: ['support'] })).kind).toBe('permit')
    }
  })

  test('a principal revocation lasts invalidationTtlSeconds', () => {
    const bc = new InMemoryInvalidationBroadcaster()
    const t0 = 1_800_000_000_000
    const g = Gate.fromObject(PERMIT_ALL, { broadcaster: bc, invalidationTtlSeconds: 60, testClock: { nowMs: t0 } })
    bc.publish('principal', 'agent-ttl', 'x')
    g.setTestNow(t0 + 59_999)
    expect(g.evaluate(refund('agent-ttl')).code).toBe('SESSION_INVALID')
    g.setTestNow(t0 + 60_000)
    expect(g.evaluate(refund('agent-ttl')).kind).toBe('permit')
  })

  test('an observe-only gate records the would-be Invalidate but does not publish', async () => {
    const bc = new InMemoryInvalidationBroadcaster()
    const watcher = Gate.fromObject(PERMIT_ALL, { broadcaster: bc, observeOnly: true })
    const other = Gate.fromObject(PERMIT_ALL, { broadcaster: bc })
    const heard = recorder(bc)
    const session = refund('observe-agent', { sessionId: 'obs-s1' })
    watcher.evaluate({ ...session, ip: IP_A })
    const v = watcher.evaluate({ ...session, ip: IP_B })
    expect(v.kind).toBe('permit')
    expect(v.observed?.kind).toBe('invalidate')
    expect(other.evaluate({ ...session, ip: IP_A }).kind).toBe('permit')
    // Nothing was published: a later publish is the first thing the listener hears.
    bc.publish('session', 'marker', 'x')
    await vi.waitFor(() => expect(heard).toHaveLength(1))
    expect(heard[0].targetId).toBe('marker')
  })
})

describe('process lifetime', () => {

  /** Runs a TS script in a child Node; resolves with how it ended (killed after 20 s). */
  function runChild(source: string, nodeArgs: string[] = []): Promise<ChildResult> {
    const script = join(mkdtempSync(join(tmpdir(), 'kavach-listener-')), 'child.mts')
    writeFileSync(script, source)
    return runTsx(script, { nodeArgs, killAfterMs: 20_000 })
  }

  const entry = JSON.stringify(pathToFileURL(join(REPO_ROOT, 'index.ts')).href)

  test('a listener does not keep the process alive after abort()', async () => {
    const r = await runChild(`
      import { InMemoryInvalidationBroadcaster, spawnInvalidationListener } from ${entry}
      const bc = new InMemoryInvalidationBroadcaster()
      const handle = spawnInvalidationListener(bc, (scope) => {
        console.log('heard', scope.targetKind, scope.targetId)
        handle.abort()
        console.log('finished', handle.isFinished, bc.subscriberCount)
      })
      bc.publish('session', 's-exit', 'bye')
    `)
    expect(r.stderr).toBe('')
    expect(r.stdout).toBe('heard session s-exit\nfinished true 0\n')
    expect(r.signal).toBeNull()
    expect(r.code).toBe(0)
  })

  test('a Redis listener (which keeps the loop alive while active) lets go after abort()', async () => {
    // The broadcaster is deliberately not closed: abort() alone must release the listener.
    const r = await runChild(`
      import { RedisInvalidationBroadcaster, spawnInvalidationListener } from ${entry}
      const bc = await RedisInvalidationBroadcaster.connect('redis://127.0.0.1:6379', {
        channel: 'kavach-test:invalidation-lifetime:' + process.pid,
      })
      const handle = spawnInvalidationListener(bc, (scope) => {
        console.log('heard', scope.targetKind, scope.targetId)
        handle.abort()
      })
      await bc.publish('principal', 'p-exit', 'bye')
    `)
    expect(r.stderr).toBe('')
    expect(r.stdout).toBe('heard principal p-exit\n')
    expect(r.signal).toBeNull()
    expect(r.code).toBe(0)
  })

  /** Child source: 20 rounds of gc() on unref'd timers (nothing else holds the loop), then `then`. */
  const collectThen = (then: string): string => `
      let rounds = 0
      const collect = () => {
        globalThis.gc()
        if (++rounds < 20) setTimeout(collect, 25).unref()
        else {
          ${then}
        }
      }
      setTimeout(collect, 25).unref()`

  test('a listener whose handle and broadcaster are dropped (and collected) keeps the process alive until abort()', async () => {
    // Were the collected handle to release the listener, the process would exit at the first
    // gc() and print nothing.
    const r = await runChild(
      `
      import { InMemoryInvalidationBroadcaster, spawnInvalidationListener } from ${entry}
      ;(() => {
        spawnInvalidationListener(new InMemoryInvalidationBroadcaster(), () => {})
      })()
      ${collectThen("console.log('collected'); setTimeout(() => { console.log('alive'); process.exit(0) }, 200).unref()")}
    `,
      ['--expose-gc'],
    )
    expect(r.stderr).toBe('')
    expect(r.stdout).toBe('collected\nalive\n')
    expect(r.code).toBe(0)
  })

  test('a dropped (and collected) Redis listener keeps hearing', async () => {
    const r = await runChild(
      `
      import { RedisInvalidationBroadcaster, spawnInvalidationListener } from ${entry}
      const bc = await RedisInvalidationBroadcaster.connect('redis://127.0.0.1:6379', {
        channel: 'kavach-test:invalidation-dropped:' + process.pid,
      })
      ;(() => {
        spawnInvalidationListener(bc, (scope) => {
          console.log('heard', scope.targetId)
          process.exit(0)
        })
      })()
      ${collectThen("void bc.publish('principal', 'after-gc', 'still listening')")}
    `,
      ['--expose-gc'],
    )
    expect(r.stderr).toBe('')
    expect(r.stdout).toBe('heard after-gc\n')
    expect(r.code).toBe(0)
  })

  test('a listener aborted before anything is published lets the process exit', async () => {
    const r = await runChild(`
      import { InMemoryInvalidationBroadcaster, spawnInvalidationListener } from ${entry}
      const bc = new InMemoryInvalidationBroadcaster()
      const handle = spawnInvalidationListener(bc, () => {})
      console.log('spawned', bc.subscriberCount)
      handle.abort()
      handle.abort()
      console.log('aborted', handle.isFinished, bc.subscriberCount)
    `)
    expect(r.stderr).toBe('')
    expect(r.stdout).toBe('spawned 1\naborted true 0\n')
    expect(r.signal).toBeNull()
    expect(r.code).toBe(0)
  })
})
