// evaluateAsync on a gate whose only slow step is Redis runs on a tokio runtime driven by
// Node's event loop (crates/kavach-node/src/event_loop). These tests pin what a user relies on
// there: every verdict arrives (awaited chains, bursts, groups started early), limits stay
// exact, the event loop keeps running while Redis is stalled, and a gate in a worker thread
// (which has its own loop, so it uses the thread-pool runtime instead) behaves the same.

import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { Worker } from 'node:worker_threads'

import { afterAll, beforeAll, describe, expect, test } from 'vitest'

import { eventLoopRuntimeActive } from '../binding.js'
import {
  Gate,
  KavachKeyPair,
  PqTokenSigner,
  RedisRateLimitStore,
  RedisSessionStore,
  type EvaluateOptions,
  type PolicySetInput,
  type Verdict,
} from '../index'
import { REDIS_URL, RedisProcess, ioredis, prefixesCleanedAfterAll, tally } from './fixtures/redis-helpers'

const prefix = prefixesCleanedAfterAll()
const root = resolve(__dirname, '..')

function policy(max: number): PolicySetInput {
  return {
    policies: [{ name: 'tools', effect: 'permit', conditions: [{ action: 'call_tool' }, { rate_limit: { max, window: '1h' } }] }],
  }
}

const CALL = { principalId: 'agent-loop', principalKind: 'agent' as const, actionName: 'call_tool' }

describe('evaluateAsync on the event-loop runtime', () => {
  test('runs on this (main) thread', () => {
    // Linux with Node's libuv exported: the runtime must come up, or evaluateAsync silently
    // pays two thread hops per call again (nothing else would fail).
    expect(eventLoopRuntimeActive()).toBe(process.platform === 'linux')
  })

  test('16 chains of 300 awaited evaluations: every verdict arrives, exactly the limit permits', async () => {
    // Each chain submits its next evaluation as soon as the previous verdict arrives, so
    // groups start early (4 at a time), two Redis calls per lane overlap, and a group's reply
    // can land while the next group is being started. Before the resolver was registered
    // ahead of the flush, this lost verdicts and hung.
    const store = await RedisRateLimitStore.connect(REDIS_URL, { prefix: prefix('chains') })
    const gate = Gate.fromObject(policy(1_000), { rateStore: store, enableDrift: false })
    const verdicts: Verdict[] = []
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        for (let i = 0; i < 300; i++) verdicts.push(await gate.evaluateAsync(CALL))
      }),
    )
    expect(verdicts).toHaveLength(4_800)
    expect(tally(verdicts)).toEqual({ permit: 1_000, RATE_LIMIT_EXCEEDED: 3_800 })
    // The first 1,000 hits are the permitted ones: no later hit overtook the limit.
    expect(verdicts.slice(0, 1_000).every((v) => v.isPermit)).toBe(true)
    await gate.close()
    store.close()
  })

  test('a burst of 2,000 submitted in one tick: exactly the limit permits', async () => {
    const p = prefix('burst')
    const store = await RedisRateLimitStore.connect(REDIS_URL, { prefix: p })
    const gate = Gate.fromObject(policy(150), { rateStore: store, enableDrift: false })
    const verdicts = await Promise.all(Array.from({ length: 2_000 }, () => gate.evaluateAsync(CALL)))
    expect(tally(verdicts)).toEqual({ permit: 150, RATE_LIMIT_EXCEEDED: 1_850 })
    const admin = ioredis()
    // One window, holding what it needs to judge the limit (max + 1 entries), nothing more.
    const keys = await admin.keys(`kavach:${p}:rl:*`)
    expect(keys).toHaveLength(1)
    expect(await admin.llen(keys[0]!)).toBe(151)
    admin.disconnect()
    await gate.close()
    store.close()
  })

  test('batched verdicts carry every field the sync path gives, non-ASCII text included', async () => {
    // Verdicts cross back in batches as one string plus numbers (dispatch.rs); each kind of
    // verdict must decode exactly as gate.evaluate builds it on an in-process gate.
    const policies: PolicySetInput = {
      policies: [
        { name: 'remboursé ✓ 💸', effect: 'refuse', conditions: [{ action: 'wipe_db' }] },
        { name: 'tools', effect: 'permit', conditions: [{ action: 'call_*' }, { rate_limit: { max: 2, window: '1h' } }] },
        { name: 'refunds', effect: 'permit', conditions: [{ action: 'issue_refund' }] },
      ],
    }
    const options = { invariants: [{ name: 'plafond €', field: 'amount', maxValue: 100 }] }
    const p = prefix('shapes')
    const rate = await RedisRateLimitStore.connect(REDIS_URL, { prefix: p })
    const sessions = await RedisSessionStore.connect(REDIS_URL, { prefix: p, ttlSeconds: 60 })
    const remote = Gate.fromObject(policies, { ...options, rateStore: rate, sessionStore: sessions })
    const local = Gate.fromObject(policies, options)
    const ctx = (actionName: string, extra: Partial<EvaluateOptions> = {}): EvaluateOptions => ({
      principalId: 'agent-ü',
      principalKind: 'agent',
      actionName,
      ...extra,
    })
    // Submitted together, so several verdicts share a batch (the text lengths must line up
    // across non-ASCII reasons); the session cases depend on each other and go one by one.
    const burst: EvaluateOptions[] = [
      ctx('wipe_db'), // refuse policy with a non-ASCII name (in the reason)
      ctx('call_search'),
      ctx('launch_rockets'), // no policy
      ctx('call_search'),
      ctx('issue_refund', { params: { amount: 500 } }), // invariant with a non-ASCII name
      ctx('call_search'), // over the limit
    ]
    const sequence: EvaluateOptions[] = [
      ctx('issue_refund', { params: { amount: 5 }, sessionId: 'sess-ß', ip: '10.0.0.1' }),
      ctx('issue_refund', { params: { amount: 5 }, sessionId: 'sess-ß', ip: '203.0.113.9' }), // drift: invalidate
      ctx('issue_refund', { params: { amount: 5 }, sessionId: 'sess-ß', ip: '10.0.0.1' }), // revoked session
    ]
    const strip = (v: Verdict): unknown => ({
      ...v,
      evaluationId: typeof v.evaluationId,
      tokenId: typeof v.tokenId,
      permitToken: v.permitToken && { ...v.permitToken, tokenId: typeof v.permitToken.tokenId, evaluationId: v.permitToken.evaluationId === v.evaluationId },
    })
    const got = await Promise.all(burst.map((c) => remote.evaluateAsync(c)))
    for (const c of sequence) got.push(await remote.evaluateAsync(c))
    const want = [...burst, ...sequence].map((c) => local.evaluate(c))
    expect(got.map(strip)).toEqual(want.map(strip))
    for (const v of got) expect(v.evaluationId).toMatch(/^[0-9a-f-]{36}$/)
    expect(got.map((v) => (v.isPermit ? 'permit' : `${v.kind}:${v.code}`))).toEqual([
      'refuse:POLICY_DENIED',
      'permit',
      'refuse:NO_POLICY_MATCH',
      'permit',
      'refuse:INVARIANT_VIOLATION',
      'refuse:RATE_LIMIT_EXCEEDED',
      'permit',
      'invalidate:SESSION_INVALID',
      'refuse:SESSION_INVALID',
    ])
    expect(got[0]!.reason).toContain('remboursé ✓ 💸')
    expect(got[7]!.scope).toEqual({ targetKind: 'session', targetId: 'sess-ß', reason: got[7]!.reason, evaluator: 'drift' })
    await remote.close()
    rate.close()
    sessions.close()
  })

  test('a signing gate (thread pool) and a plain gate (event loop) share one store: exactly the limit permits between them', async () => {
    // The store's script connection is read by the JS thread's event loop, while the signing
    // gate's evaluations wait on it from a tokio worker: replies cross threads both ways
    // (crates/kavach-node/src/event_loop/local_tasks.rs), and the two gates' hits share calls.
    const store = await RedisRateLimitStore.connect(REDIS_URL, { prefix: prefix('shared-store') })
    const signer = PqTokenSigner.fromKeypairHybrid(KavachKeyPair.generate())
    const signing = Gate.fromObject(policy(150), { rateStore: store, tokenSigner: signer, enableDrift: false })
    const plain = Gate.fromObject(policy(150), { rateStore: store, enableDrift: false })
    const verdicts: Verdict[][] = [[], []]
    await Promise.all(
      Array.from({ length: 8 }, async (_, chain) => {
        for (let i = 0; i < 50; i++) {
          const which = (chain + i) % 2
          verdicts[which]!.push(await (which === 0 ? signing : plain).evaluateAsync(CALL))
        }
      }),
    )
    const all = [...verdicts[0]!, ...verdicts[1]!]
    expect(tally(all)).toEqual({ permit: 150, RATE_LIMIT_EXCEEDED: 250 })
    // Both gates got permits, and every permit of the signing gate verifies.
    const signed = verdicts[0]!.filter((v) => v.isPermit)
    expect(signed.length).toBeGreaterThan(0)
    expect(verdicts[1]!.some((v) => v.isPermit)).toBe(true)
    for (const v of signed) signer.verify(v.permitToken!, v.signature!)
    await signing.close()
    await plain.close()
    store.close()
  })

  describe('on a Redis server of its own (paused, clients killed)', () => {
    let server: RedisProcess
    beforeAll(async () => {
      server = await RedisProcess.start()
    })
    afterAll(async () => {
      await server.destroy()
    })

    test('timers and I/O keep running while evaluations wait; they refuse at the command timeout', async () => {
      const store = await RedisRateLimitStore.connect(server.url, { prefix: prefix('stall'), commandTimeoutMs: 400 })
      const gate = Gate.fromObject(policy(100), { rateStore: store, enableDrift: false })
      expect((await gate.evaluateAsync(CALL)).isPermit).toBe(true)
      const admin = ioredis(server.url)
      await admin.call('CLIENT', 'PAUSE', '1500', 'WRITE')
      let ticks = 0
      const timer = setInterval(() => {
        ticks++
      }, 5)
      const waiting = Promise.all(Array.from({ length: 8 }, () => gate.evaluateAsync(CALL)))
      // The JS thread is free while the evaluations wait: a timer fires before they settle.
      const firstTick = new Promise<void>((res) => {
        const check = setInterval(() => {
          if (ticks > 0) {
            clearInterval(check)
            res()
          }
        }, 1)
      })
      const settledFirst = await Promise.race([waiting.then(() => 'verdicts' as const), firstTick.then(() => 'timer' as const)])
      expect(settledFirst).toBe('timer')
      const stalled = await waiting
      clearInterval(timer)
      expect(tally(stalled)).toEqual({ STORE_UNAVAILABLE: 8 })
      expect(stalled[0]!.evaluator).toBe('rate_store')
      await admin.call('CLIENT', 'UNPAUSE')
      expect((await gate.evaluateAsync(CALL)).isPermit).toBe(true)
      admin.disconnect()
      await gate.close()
      store.close()
    }, 20_000)

    test('a server that stops reading (SIGSTOP) while more calls than the socket buffers hold go out: every call arrives whole once it resumes', async () => {
      // The script's socket is written without waiting (crates/kavach-redis/src/direct/loop_io.rs).
      // With the server stopped, 64,000 hits on 250-byte keys (ids are capped at 256 bytes;
      // about 18 MB of commands) cannot all fit in the kernel's buffers (a loopback send buffer
      // grows to 4 MiB at most here, Redis's receive buffer to 6 MiB): the rest must wait in
      // order and go out as the socket drains, or Redis would read half a command followed by
      // the next one.
      const PRINCIPALS = 32_000
      const store = await RedisRateLimitStore.connect(server.url, { prefix: prefix('stopped'), commandTimeoutMs: 10_000 })
      const gate = Gate.fromObject(policy(1), { rateStore: store, enableDrift: false })
      expect((await gate.evaluateAsync(CALL)).isPermit).toBe(true)
      const ids = Array.from({ length: PRINCIPALS }, (_, i) => `${i}-`.padEnd(250, 'x'))
      const pid = server.child!.pid!
      process.kill(pid, 'SIGSTOP')
      let verdicts: Promise<Verdict[]>
      try {
        // Each principal twice: the first permits, the second is over its limit of 1.
        verdicts = Promise.all([...ids, ...ids].map((principalId) => gate.evaluateAsync({ ...CALL, principalId })))
        await new Promise((r) => setTimeout(r, 300))
      } finally {
        process.kill(pid, 'SIGCONT')
      }
      const got = await verdicts
      expect(tally(got.slice(0, PRINCIPALS))).toEqual({ permit: PRINCIPALS })
      expect(tally(got.slice(PRINCIPALS))).toEqual({ RATE_LIMIT_EXCEEDED: PRINCIPALS })
      // The connection is still in step: the next call gets its own answer.
      expect((await gate.evaluateAsync({ ...CALL, principalId: 'after-resume' })).isPermit).toBe(true)
      await gate.close()
      store.close()
    }, 30_000)

    test('connections killed again and again: each comes back, the killed ones leave no descriptor behind, the idle loop sleeps, close() lets Redis see the connection go', async () => {
      // libuv watches the script's socket itself (crates/kavach-node/src/event_loop/socket_watch.rs)
      // through a duplicate descriptor. A killed socket stays readable (end of file): a watch
      // that outlived its reader would spin the loop, one that was never freed would leak the
      // duplicate, and a duplicate left open would keep the connection alive after close().
      const store = await RedisRateLimitStore.connect(server.url, { prefix: prefix('killed'), commandTimeoutMs: 400 })
      const gate = Gate.fromObject(policy(1_000), { rateStore: store, enableDrift: false })
      const admin = ioredis(server.url)
      const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
      const permitAgain = async (): Promise<void> => {
        for (let i = 0; i < 50; i++) {
          const v = await gate.evaluateAsync(CALL)
          if (v.isPermit) return
          expect(v.code).toBe('STORE_UNAVAILABLE')
          await sleep(20)
        }
        throw new Error('no permit after the connection was killed')
      }
      await permitAgain()
      const openFds = (): number => readdirSync('/proc/self/fd').length
      const fdsBefore = openFds()
      let idleCpuUs = 0
      const ROUNDS = 20
      const IDLE_MS = 200
      for (let round = 0; round < ROUNDS; round++) {
        expect(Number(await admin.call('CLIENT', 'KILL', 'SKIPME', 'yes'))).toBeGreaterThan(0)
        const cpu = process.cpuUsage()
        await sleep(IDLE_MS)
        const used = process.cpuUsage(cpu)
        idleCpuUs += used.user + used.system
        await permitAgain()
      }
      // A spinning loop would burn about all of the idle time (4 s); a sleeping one a sliver.
      expect(idleCpuUs / 1000).toBeLessThan((ROUNDS * IDLE_MS) / 4)
      expect(openFds()).toBeLessThanOrEqual(fdsBefore + 2)

      await gate.close()
      store.close()
      const others = async (): Promise<number> => {
        const me = Number(await admin.call('CLIENT', 'ID'))
        const list = String(await admin.call('CLIENT', 'LIST'))
        return list.split('\n').filter((l) => l.startsWith('id=') && !l.startsWith(`id=${me} `)).length
      }
      for (let i = 0; i < 100 && (await others()) > 0; i++) await sleep(20)
      expect(await others()).toBe(0)
      admin.disconnect()
    }, 30_000)
  })

  test('in a worker thread (its own event loop) the gate runs on the thread pool and stays exact', async () => {
    // `npm test` builds dist first; build it here when running this file alone.
    if (!existsSync(join(root, 'dist/index.js'))) execFileSync('npm', ['run', 'build:ts'], { cwd: root, stdio: 'inherit' })
    const code = `
      const { parentPort, workerData } = require('node:worker_threads')
      const { Gate, RedisRateLimitStore } = require(workerData.entry)
      ;(async () => {
        const store = await RedisRateLimitStore.connect(workerData.url, { prefix: workerData.prefix })
        const gate = Gate.fromObject(workerData.policy, { rateStore: store, enableDrift: false })
        const ctx = { principalId: 'agent-thread', principalKind: 'agent', actionName: 'call_tool' }
        const verdicts = await Promise.all(Array.from({ length: 300 }, () => gate.evaluateAsync(ctx)))
        await gate.close()
        store.close()
        const active = require(workerData.binding).eventLoopRuntimeActive()
        parentPort.postMessage({ active, outcomes: verdicts.map((v) => (v.isPermit ? 'permit' : v.code)) })
      })().catch((e) => parentPort.postMessage('error: ' + (e && e.stack)))
    `
    const worker = new Worker(code, {
      eval: true,
      workerData: { entry: join(root, 'dist/index.js'), binding: join(root, 'binding.js'), url: REDIS_URL, prefix: prefix('thread'), policy: policy(40) },
    })
    const outcome = await new Promise<unknown>((res, rej) => {
      worker.once('message', res)
      worker.once('error', rej)
    })
    await worker.terminate()
    expect(typeof outcome, String(outcome)).toBe('object')
    const { active, outcomes } = outcome as { active: boolean; outcomes: string[] }
    expect(active).toBe(false)
    const counts: Record<string, number> = {}
    for (const o of outcomes) counts[o] = (counts[o] ?? 0) + 1
    expect(counts).toEqual({ permit: 40, RATE_LIMIT_EXCEEDED: 260 })
  })
})
