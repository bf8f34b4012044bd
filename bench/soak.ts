// Soak: mixed traffic for a fixed time with RSS sampled at a fixed interval, then a summary.
// `npm run soak` (10 minutes, a sample every 10 s, under --expose-gc) or
// `npm run soak -- --seconds 5 --sample-ms 500`.
// Each round runs, in turn: sync evaluations on an in-process gate; evaluateAsync against a
// Redis rate limit from 64 concurrent callers; permits signed by a PQ token signer; appends
// to a fresh signed audit chain (verified, then dropped); gates, broadcasters and listeners
// created, used and closed. Every loop is bounded, every promise is counted until it settles,
// and everything is closed at the end, so the process exits by itself.
// Exit code 1 when any operation failed, a promise did not settle, or (unless --no-rss-check)
// RSS grew more than 10 % between the end of the warm-up and the end of the run.
// Redis: KAVACH_REDIS_URL or redis://127.0.0.1:6379.

import { parseArgs } from 'node:util'

import {
  AuditEntry,
  Gate,
  InMemoryInvalidationBroadcaster,
  KavachKeyPair,
  PqTokenSigner,
  RedisRateLimitStore,
  SignedAuditChain,
  spawnInvalidationListener,
  type EvaluateOptions,
  type PolicySetInput,
} from './kavach'

const REDIS_URL = process.env.KAVACH_REDIS_URL ?? 'redis://127.0.0.1:6379'
const CONCURRENCY = 64
/** Distinct principals: bounded, so in-process and Redis state stays bounded too. */
const PRINCIPALS = 1_000
const MAX_GROWTH = 0.1

export interface SoakOptions {
  seconds: number
  sampleMs: number
  /** RSS after this long is the baseline (allocators and JIT settle first). */
  warmupMs: number
  checkRss: boolean
}

export interface SoakSummary {
  seconds: number
  rounds: number
  evaluations: number
  signedPermits: number
  auditAppends: number
  gatesCreatedAndClosed: number
  listenersCreatedAndAborted: number
  errors: number
  firstErrors: string[]
  unsettled: number
  rssMiB: { start: number; end: number; max: number; growthPercent: number }
  samplesMiB: number[]
  heapUsedMiB: number[]
  /** Whether each sample followed a full collection (--expose-gc). */
  collectedBeforeSamples: boolean
  ok: boolean
}

const POLICIES: PolicySetInput = {
  policies: [
    { name: 'limited', effect: 'permit', conditions: [{ action: 'limited' }, { rate_limit: { max: 1_000_000, window: '1m' } }] },
    { name: 'reads', effect: 'permit', conditions: [{ action: 'read*' }] },
  ],
}

const ctx = (i: number, actionName: string): EvaluateOptions => ({
  principalId: `soak-${i % PRINCIPALS}`,
  principalKind: 'agent',
  actionName,
  roles: ['soak'],
  params: { amount: i % 500 },
})

const mib = (bytes: number): number => Math.round((bytes / 1_048_576) * 10) / 10
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

export async function soak(opts: SoakOptions): Promise<SoakSummary> {
  const tally = { evaluations: 0, signedPermits: 0, auditAppends: 0, gates: 0, listeners: 0, errors: 0, started: 0, settled: 0 }
  const firstErrors: string[] = []
  const failed = (e: unknown): void => {
    tally.errors++
    if (firstErrors.length < 5) firstErrors.push(String((e as Error)?.stack ?? e))
  }
  /** Counts a promise from start to settlement (`unsettled` in the summary). */
  const track = <T>(p: Promise<T>): Promise<T> => {
    tally.started++
    return p.finally(() => tally.settled++)
  }

  const samples: number[] = []
  /** V8 heap in use at each sample: tells a JS leak from native or allocator growth. */
  const heapSamples: number[] = []
  const started = Date.now()
  let baseline: number | undefined
  // With --expose-gc (as `npm run soak` runs) each sample follows a full collection, so it
  // measures what is retained rather than where the collector happens to be.
  const gc = (globalThis as { gc?: () => void }).gc
  const sampler = setInterval(() => {
    gc?.()
    const { rss, heapUsed } = process.memoryUsage()
    samples.push(rss)
    heapSamples.push(heapUsed)
    if (baseline === undefined && Date.now() - started >= opts.warmupMs) baseline = rss
  }, opts.sampleMs)

  const store = await track(RedisRateLimitStore.connect(REDIS_URL, { prefix: `soak-${process.pid}` }))
  const local = Gate.fromObject(POLICIES, { enableDrift: false })
  const remote = Gate.fromObject(POLICIES, { enableDrift: false, rateStore: store })
  const signingKey = KavachKeyPair.generate()
  const signed = Gate.fromObject(POLICIES, { enableDrift: false, tokenSigner: PqTokenSigner.fromKeypairHybrid(signingKey) })

  const expectPermit = (permit: boolean): void => {
    if (!permit) failed(new Error('expected a permit'))
  }

  let rounds = 0
  let i = 0
  const deadline = started + opts.seconds * 1000
  while (Date.now() < deadline) {
    rounds++
    // 1. Sync evaluations, in-process.
    for (let k = 0; k < 2_000; k++, i++) {
      try {
        expectPermit(local.evaluate(ctx(i, 'read')).isPermit)
        tally.evaluations++
      } catch (e) {
        failed(e)
      }
    }
    await turn()

    // 2. evaluateAsync with the Redis rate limit, 64 concurrent callers.
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async (_, caller) => {
        for (let k = 0; k < 20; k++) {
          try {
            expectPermit((await track(remote.evaluateAsync(ctx(caller * 31 + k + i, 'limited')))).isPermit)
            tally.evaluations++
          } catch (e) {
            failed(e)
          }
        }
      }),
    )
    i += CONCURRENCY * 20

    // 3. Signed permits (one ML-DSA + Ed25519 signature each).
    for (let k = 0; k < 20; k++, i++) {
      try {
        const v = await track(signed.evaluateAsync(ctx(i, 'read')))
        expectPermit(v.isPermit && v.signature !== undefined)
        tally.evaluations++
        tally.signedPermits++
      } catch (e) {
        failed(e)
      }
    }

    // 4. A fresh audit chain: appends, then a full verification; dropped afterwards.
    try {
      const chain = new SignedAuditChain(signingKey)
      for (let k = 0; k < 25; k++) chain.append(AuditEntry.new(`soak-${k}`, 'read', 'permit', `round=${rounds}`))
      tally.auditAppends += 25
      if (chain.verify(signingKey.publicKeys()) !== 25) failed(new Error('audit chain verified a wrong length'))
      chain.close()
    } catch (e) {
      failed(e)
    }
    await turn()

    // 5. Gates and listeners created, used and closed.
    for (let k = 0; k < 5; k++) {
      try {
        const broadcaster = new InMemoryInvalidationBroadcaster()
        let delivered: (() => void) | undefined
        const heard = new Promise<boolean>((resolve) => {
          delivered = () => resolve(true)
          setTimeout(() => resolve(false), 5_000).unref()
        })
        const listener = spawnInvalidationListener(broadcaster, () => delivered?.())
        tally.listeners++
        const gate = Gate.fromObject(POLICIES, { broadcaster })
        tally.gates++
        expectPermit(gate.evaluate(ctx(i++, 'read')).isPermit)
        tally.evaluations++
        broadcaster.publish('principal', `revoked-${k}`, 'soak')
        if (!(await track(heard))) failed(new Error('listener did not hear the scope within 5 s'))
        listener.abort()
        await track(gate.close())
      } catch (e) {
        failed(e)
      }
    }
  }

  await track(local.close())
  await track(remote.close())
  await track(signed.close())
  store.close()
  clearInterval(sampler)
  gc?.()
  samples.push(process.memoryUsage().rss)
  heapSamples.push(process.memoryUsage().heapUsed)

  const start = baseline ?? samples[0]!
  const end = samples[samples.length - 1]!
  const growth = end / start - 1
  const unsettled = tally.started - tally.settled
  return {
    seconds: opts.seconds,
    rounds,
    evaluations: tally.evaluations,
    signedPermits: tally.signedPermits,
    auditAppends: tally.auditAppends,
    gatesCreatedAndClosed: tally.gates,
    listenersCreatedAndAborted: tally.listeners,
    errors: tally.errors,
    firstErrors,
    unsettled,
    rssMiB: { start: mib(start), end: mib(end), max: mib(Math.max(...samples)), growthPercent: Math.round(growth * 1000) / 10 },
    samplesMiB: samples.map(mib),
    heapUsedMiB: heapSamples.map(mib),
    collectedBeforeSamples: gc !== undefined,
    ok: tally.errors === 0 && unsettled === 0 && (!opts.checkRss || growth <= MAX_GROWTH),
  }
}

function options(argv: string[]): SoakOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      seconds: { type: 'string', default: '600' },
      'sample-ms': { type: 'string', default: '10000' },
      'warmup-ms': { type: 'string' },
      'no-rss-check': { type: 'boolean', default: false },
    },
  })
  const seconds = Number(values.seconds)
  const sampleMs = Number(values['sample-ms'])
  // Default warm-up: a tenth of the run, at least one sample.
  const warmupMs = values['warmup-ms'] === undefined ? Math.max(sampleMs, seconds * 100) : Number(values['warmup-ms'])
  for (const [name, v] of [['seconds', seconds], ['sample-ms', sampleMs], ['warmup-ms', warmupMs]] as const) {
    if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} must be a positive number, got ${String(v)}`)
  }
  return { seconds, sampleMs, warmupMs, checkRss: !values['no-rss-check'] }
}

if (require.main === module) {
  const opts = options(process.argv.slice(2))
  console.error(`soak: ${opts.seconds} s, RSS every ${opts.sampleMs} ms, baseline after ${opts.warmupMs} ms`)
  soak(opts).then(
    (summary) => {
      console.log(JSON.stringify(summary, null, 2))
      if (!summary.ok) process.exitCode = 1
    },
    (e: unknown) => {
      console.error(e)
      process.exitCode = 1
    },
  )
}
