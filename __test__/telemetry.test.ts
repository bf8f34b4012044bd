// Gate telemetry (src/telemetry.ts) with the OpenTelemetry SDK: a MetricReader collected on
// demand and an in-memory span exporter; the onVerdict hook; and what a telemetry SDK or a hook
// that fails does (a warning, never a changed verdict, a throw into the evaluation or a crash).
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'

import { AggregationTemporality, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics'
import type { DataPoint, Histogram } from '@opentelemetry/sdk-metrics'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base'
import { afterEach, beforeAll, describe, expect, test } from 'vitest'

import { Gate, InvalidOptionsError, KavachKeyPair, PqTokenSigner, Refused, validateGateOptions } from '../index'
import type { EvaluateInput, Verdict } from '../index'

/** Collects on demand (no timer). */
class CollectingReader extends MetricReader {
  protected onForceFlush(): Promise<void> {
    return Promise.resolve()
  }
  protected onShutdown(): Promise<void> {
    return Promise.resolve()
  }
}

const POLICIES = {
  policies: [
    { name: 'block-delete', effect: 'refuse' as const, priority: 1, conditions: [{ action: 'delete' }] },
    { name: 'reads', effect: 'permit' as const, conditions: [{ action: 'read' }] },
  ],
}
const ctx = (actionName: string) => ({ principalId: 'agent-1', principalKind: 'agent' as const, actionName })

function otel() {
  const reader = new CollectingReader({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE })
  const meterProvider = new MeterProvider({ readers: [reader] })
  const spans = new InMemorySpanExporter()
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] })
  const metrics = async () => {
    const { resourceMetrics, errors } = await reader.collect()
    expect(errors).toEqual([])
    const all = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics)
    const byName = (name: string) => all.find((m) => m.descriptor.name === name)
    return { byName }
  }
  return { meterProvider, tracerProvider, spans, metrics }
}

beforeAll(() => {
  // The child-process test runs the built package (dist/, built by `npm test` first).
  const root = join(__dirname, '..')
  if (!existsSync(join(root, 'dist/src/telemetry.js'))) execFileSync('npm', ['run', 'build:ts'], { cwd: root, stdio: 'inherit' })
}, 120_000)

const gates: Gate[] = []
afterEach(async () => {
  await Promise.all(gates.splice(0).map((g) => g.close()))
})
const track = (g: Gate) => (gates.push(g), g)

describe('telemetry: true with OpenTelemetry providers', () => {
  test('a permit, a refuse and an async evaluation: verdict counter, latency histogram, one span each', async () => {
    const o = otel()
    const gate = track(Gate.fromObject(POLICIES, { telemetry: { meterProvider: o.meterProvider, tracerProvider: o.tracerProvider } }))
    expect(gate.evaluate(ctx('read')).kind).toBe('permit')
    expect(gate.evaluate(ctx('delete')).code).toBe('POLICY_DENIED')
    expect((await gate.evaluateAsync(ctx('write'))).code).toBe('NO_POLICY_MATCH')
    expect((await gate.evaluateAsync(ctx('read'))).kind).toBe('permit')

    const { byName } = await o.metrics()
    const counter = byName('kavach.verdicts')!
    const counts = counter.dataPoints.map((p) => [p.attributes, p.value]).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)))
    expect(counts).toEqual([
      [{ 'kavach.verdict.kind': 'permit' }, 2],
      [{ 'kavach.verdict.kind': 'refuse', 'kavach.verdict.code': 'NO_POLICY_MATCH', 'kavach.verdict.evaluator': 'policy' }, 1],
      [{ 'kavach.verdict.kind': 'refuse', 'kavach.verdict.code': 'POLICY_DENIED', 'kavach.verdict.evaluator': 'policy' }, 1],
    ])
    const histogram = byName('kavach.evaluate.duration')!
    expect(histogram.descriptor.unit).toBe('s')
    const points = histogram.dataPoints as DataPoint<Histogram>[]
    expect(points.reduce((n, p) => n + p.value.count, 0)).toBe(4)
    for (const p of points) expect(p.value.min).toBeGreaterThanOrEqual(0)

    const spans = o.spans.getFinishedSpans()
    expect(spans.map((s) => s.name)).toEqual(['kavach.evaluate', 'kavach.evaluate', 'kavach.evaluate', 'kavach.evaluate'])
    expect(spans.map((s) => s.attributes['kavach.verdict.code'] ?? s.attributes['kavach.verdict.kind'])).toEqual([
      'permit',
      'POLICY_DENIED',
      'NO_POLICY_MATCH',
      'permit',
    ])
    expect(spans[0]!.attributes['kavach.action']).toBe('read')
    expect(typeof spans[1]!.attributes['kavach.evaluation_id']).toBe('string')
  })

  test('an async evaluation on the submitted path (a signing gate) is counted once, with its span', async () => {
    const o = otel()
    const tokenSigner = PqTokenSigner.fromKeypairHybrid(KavachKeyPair.generate())
    const gate = track(Gate.fromObject(POLICIES, { tokenSigner, telemetry: { meterProvider: o.meterProvider, tracerProvider: o.tracerProvider } }))
    const [a, b] = await Promise.all([gate.evaluateAsync(ctx('read')), gate.evaluateAsync(ctx('delete'))])
    expect([a.kind, b.code]).toEqual(['permit', 'POLICY_DENIED'])
    expect(a.signature).toBeInstanceOf(Buffer)
    const counter = (await o.metrics()).byName('kavach.verdicts')!
    expect(counter.dataPoints.map((p) => p.value).sort()).toEqual([1, 1])
    expect(o.spans.getFinishedSpans()).toHaveLength(2)
  })

  test('an evaluation that throws ends its span with an error status and counts no verdict', async () => {
    const o = otel()
    const gate = track(Gate.fromObject(POLICIES, { telemetry: { meterProvider: o.meterProvider, tracerProvider: o.tracerProvider } }))
    expect(() => gate.evaluate({ principalId: '', principalKind: 'agent', actionName: 'read' })).toThrow()
    const [span] = o.spans.getFinishedSpans()
    expect(span!.status.code).toBe(2)
    expect(span!.attributes['kavach.error.code']).toBe('INVALID_ARGUMENT')
    expect((await o.metrics()).byName('kavach.verdicts')).toBeUndefined()
  })
})

describe('onVerdict', () => {
  test('is called once per verdict with the verdict and the context (evaluate, evaluateAsync, check)', async () => {
    const seen: [Verdict, EvaluateInput][] = []
    const gate = track(Gate.fromObject(POLICIES, { onVerdict: (v, c) => seen.push([v, c]) }))
    const c1 = ctx('read')
    const c2 = ctx('delete')
    const c3 = ctx('write')
    const v1 = gate.evaluate(c1)
    const v2 = await gate.evaluateAsync(c2)
    expect(() => gate.check(c3)).toThrow(Refused)
    expect(seen).toHaveLength(3)
    // A frozen copy of the verdict (see the next test), the context as given.
    expect(seen[0]![0]).toEqual(v1)
    expect(seen[0]![1]).toBe(c1)
    expect(seen[1]![0]).toEqual(v2)
    expect(seen[1]![1]).toBe(c2)
    expect(seen[2]![0].code).toBe('NO_POLICY_MATCH')
    expect(seen[2]![1]).toBe(c3)
  })

  test('a hook that writes to its verdict changes nothing the caller gets (it gets a frozen copy)', async () => {
    const kept: Verdict[] = []
    const forge = (v: Verdict) => {
      kept.push(v)
      const w = v as unknown as Record<string, unknown>
      for (const [k, x] of [['kind', 'permit'], ['isPermit', true], ['isRefuse', false], ['code', undefined]] as const) {
        try {
          w[k] = x
        } catch {
          // a frozen verdict throws in strict mode: the point of the test
        }
      }
      v.signature?.fill(0)
    }
    const gate = track(Gate.fromObject(POLICIES, { onVerdict: forge, tokenSigner: PqTokenSigner.fromKeypairHybrid(KavachKeyPair.generate()) }))
    const refused = gate.evaluate(ctx('delete'))
    expect(refused.kind).toBe('refuse')
    expect(refused.isPermit).toBe(false)
    expect(() => gate.check(ctx('delete'))).toThrow(Refused)
    expect((await gate.evaluateAsync(ctx('delete'))).kind).toBe('refuse')
    const permit = gate.evaluate(ctx('read'))
    expect(permit.signature!.some((b) => b !== 0)).toBe(true)
    expect(permit.permitToken!.signature!.some((b) => b !== 0)).toBe(true)
    // What the hook got is frozen, nested objects too; written to later, it still changes nothing.
    const last = kept.at(-1)!
    expect(Object.isFrozen(last) && Object.isFrozen(last.permitToken)).toBe(true)
    expect(() => Object.assign(kept[0]!, { kind: 'permit' })).toThrow(TypeError)
    expect(refused.kind).toBe('refuse')
  })

  test('a throwing hook is reported as a warning and changes no verdict', async () => {
    const warnings: Error[] = []
    const onWarning = (w: Error) => warnings.push(w)
    process.on('warning', onWarning)
    try {
      let calls = 0
      const gate = track(
        Gate.fromObject(POLICIES, {
          onVerdict: () => {
            calls++
            throw new Error('sink down')
          },
        }),
      )
      expect(gate.evaluate(ctx('delete')).code).toBe('POLICY_DENIED')
      expect(() => gate.check(ctx('delete'))).toThrow(Refused)
      expect((await gate.evaluateAsync(ctx('delete'))).code).toBe('POLICY_DENIED')
      expect(gate.evaluate(ctx('read')).kind).toBe('permit')
      expect(calls).toBe(4)
      await new Promise((r) => setImmediate(r)) // warnings are emitted on the next tick
      expect(warnings.map((w) => [(w as Error & { code?: string }).code, w.message])).toEqual(
        Array.from({ length: 4 }, () => ['KAVACH_ON_VERDICT_FAILED', 'kavach: onVerdict threw (the verdict stands): sink down']),
      )
    } finally {
      process.off('warning', onWarning)
    }
  })
})

/** Process warnings emitted while `body` runs (and one tick after, when they are delivered). */
async function warningsDuring(body: () => unknown): Promise<[string | undefined, string][]> {
  const warnings: [string | undefined, string][] = []
  const onWarning = (w: Error & { code?: string }) => warnings.push([w.code, w.message])
  process.on('warning', onWarning)
  try {
    await body()
    await new Promise((r) => setImmediate(r))
    return warnings
  } finally {
    process.off('warning', onWarning)
  }
}

describe('a telemetry SDK or a hook that fails', () => {
  test('a tracer whose startSpan throws: every evaluation returns its verdict (evaluateAsync a promise), metrics still recorded', async () => {
    const o = otel()
    // The user's tracer provider, broken.
    const tracerProvider = {
      getTracer: () => ({
        startSpan: () => {
          throw new Error('tracer exploded')
        },
      }),
    }
    const gate = track(Gate.fromObject(POLICIES, { telemetry: { meterProvider: o.meterProvider, tracerProvider } }))
    const warnings = await warningsDuring(async () => {
      expect(gate.evaluate(ctx('read')).kind).toBe('permit')
      const pending = gate.evaluateAsync(ctx('delete'))
      expect(pending).toBeInstanceOf(Promise)
      expect((await pending).code).toBe('POLICY_DENIED')
      expect(() => gate.check(ctx('delete'))).toThrow(Refused)
    })
    expect(warnings).toEqual(
      Array.from({ length: 3 }, () => ['KAVACH_TELEMETRY_FAILED', 'kavach: telemetry threw (the verdict stands): tracer exploded']),
    )
    const counter = (await o.metrics()).byName('kavach.verdicts')!
    expect(counter.dataPoints.reduce((n, p) => n + (p.value as number), 0)).toBe(3)
  })

  test('a span whose end throws and a counter whose add throws: the verdict stands, each is a warning', async () => {
    const spans: string[] = []
    const tracerProvider = {
      getTracer: () => ({
        startSpan: (name: string) => ({
          setAttributes: () => {},
          setAttribute: () => {},
          end: () => {
            spans.push(name)
            throw new Error('exporter down')
          },
        }),
      }),
    }
    const meterProvider = {
      getMeter: () => ({
        createCounter: () => ({
          add: () => {
            throw new Error('counter broken')
          },
        }),
        createHistogram: () => ({ record: () => {} }),
      }),
    }
    const gate = track(Gate.fromObject(POLICIES, { telemetry: { meterProvider, tracerProvider } }))
    const warnings = await warningsDuring(async () => {
      expect(gate.evaluate(ctx('read')).kind).toBe('permit')
      expect((await gate.evaluateAsync(ctx('read'))).kind).toBe('permit')
    })
    // The span is ended even though the counter threw first.
    expect(spans).toEqual(['kavach.evaluate', 'kavach.evaluate'])
    expect(warnings.map(([code, message]) => `${code} ${message}`)).toEqual([
      'KAVACH_TELEMETRY_FAILED kavach: telemetry threw (the verdict stands): counter broken',
      'KAVACH_TELEMETRY_FAILED kavach: telemetry threw (the verdict stands): exporter down',
      'KAVACH_TELEMETRY_FAILED kavach: telemetry threw (the verdict stands): counter broken',
      'KAVACH_TELEMETRY_FAILED kavach: telemetry threw (the verdict stands): exporter down',
    ])
  })

  test('a provider that throws while the gate is built is an InvalidOptionsError naming the option', () => {
    const boom = (what: string) => () => {
      throw new Error(`${what} exploded`)
    }
    const o = otel()
    const bad: [object, string][] = [
      [{ meterProvider: { getMeter: boom('meter') } }, "option 'telemetry.meterProvider': getMeter('kavach-sdk') threw: meter exploded"],
      [
        { meterProvider: o.meterProvider, tracerProvider: { getTracer: boom('tracer') } },
        "option 'telemetry.tracerProvider': getTracer('kavach-sdk') threw: tracer exploded",
      ],
      [
        { meterProvider: { getMeter: () => ({ createCounter: boom('counter'), createHistogram: () => ({}) }) } },
        "option 'telemetry.meterProvider': createCounter() threw: counter exploded",
      ],
    ]
    for (const [telemetry, message] of bad) {
      let thrown: unknown
      try {
        track(Gate.fromObject(POLICIES, { telemetry: telemetry as never }))
      } catch (e) {
        thrown = e
      }
      expect(thrown).toBeInstanceOf(InvalidOptionsError)
      expect((thrown as InvalidOptionsError).code).toBe('INVALID_OPTIONS')
      expect((thrown as Error).message).toBe(message)
      expect((thrown as Error).cause).toBeInstanceOf(Error)
    }
  })

  test('an async onVerdict whose promise rejects is reported like a throw, and the verdicts stand', async () => {
    let calls = 0
    const gate = track(
      Gate.fromObject(POLICIES, {
        onVerdict: async () => {
          calls++
          throw new Error('audit DB down')
        },
      }),
    )
    const warnings = await warningsDuring(async () => {
      expect(gate.evaluate(ctx('read')).kind).toBe('permit')
      expect((await gate.evaluateAsync(ctx('delete'))).code).toBe('POLICY_DENIED')
      // The rejections are handled a few microtasks later: wait one macrotask.
      await new Promise((r) => setTimeout(r, 0))
    })
    expect(calls).toBe(2)
    expect(warnings).toEqual(
      Array.from({ length: 2 }, () => ['KAVACH_ON_VERDICT_FAILED', "kavach: onVerdict's promise rejected (the verdict stands): audit DB down"]),
    )
  })

  test('an onVerdict failing with a value that has no text (a null-prototype object) is reported too', async () => {
    const opaque = () => Object.create(null) as unknown
    for (const hook of [() => { throw opaque() }, async () => { throw opaque() }]) {
      const gate = track(Gate.fromObject(POLICIES, { onVerdict: hook }))
      const warnings = await warningsDuring(async () => {
        expect(gate.evaluate(ctx('read')).kind).toBe('permit')
        await new Promise((r) => setTimeout(r, 0))
      })
      expect(warnings).toHaveLength(1)
      expect(warnings[0]![0]).toBe('KAVACH_ON_VERDICT_FAILED')
      expect(warnings[0]![1]).toMatch(/\(the verdict stands\): a thrown object that cannot be read as text$/)
    }
  })

  test('in a child process, an async onVerdict that rejects does not end the process', () => {
    const root = join(__dirname, '..')
    const script = `
      const { Gate } = require(${JSON.stringify(join(root, 'dist/index.js'))})
      const codes = []
      process.on('warning', (w) => codes.push(w.code))
      const gate = Gate.fromObject({ policies: [{ name: 'p', effect: 'permit', conditions: [{ action: 'read' }] }] }, {
        onVerdict: async () => { throw new Error('audit DB down') },
      })
      const ctx = { principalId: 'u', principalKind: 'user', actionName: 'read' }
      const first = gate.evaluate(ctx).kind
      gate.evaluateAsync(ctx).then((v) => setTimeout(async () => {
        console.log(JSON.stringify([first, v.kind, codes]))
        await gate.close()
      }, 50))
    `
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20_000 })
    expect(r.status, r.stderr).toBe(0)
    expect(JSON.parse(r.stdout)).toEqual(['permit', 'permit', ['KAVACH_ON_VERDICT_FAILED', 'KAVACH_ON_VERDICT_FAILED']])
  })
})

describe('the options', () => {
  test('without telemetry or onVerdict the gate runs the plain methods (no wrapper)', () => {
    const plain = track(Gate.fromObject(POLICIES, { observeOnly: false }))
    expect(Object.hasOwn(plain, 'evaluate')).toBe(false)
    expect(plain.evaluate).toBe(Gate.prototype.evaluate)
    expect(plain.evaluateAsync).toBe(Gate.prototype.evaluateAsync)
    const off = track(Gate.fromObject(POLICIES, { telemetry: false }))
    expect(off.evaluate).toBe(Gate.prototype.evaluate)
    const hooked = track(Gate.fromObject(POLICIES, { onVerdict: () => {} }))
    expect(hooked.evaluate).not.toBe(Gate.prototype.evaluate)
  })

  test("require('kavach-sdk') loads no @opentelemetry module; a gate with telemetry: true loads the API", () => {
    const root = join(__dirname, '..')
    const OTEL = "Object.keys(require.cache).some((f) => f.includes('/node_modules/@opentelemetry/'))"
    const script = `const { Gate } = require('kavach-sdk')
const atStart = ${OTEL}
Gate.fromObject({ policies: [] }).evaluate({ principalId: 'a', principalKind: 'agent', actionName: 'x' })
const plainGate = ${OTEL}
Gate.fromObject({ policies: [] }, { telemetry: true }).evaluate({ principalId: 'a', principalKind: 'agent', actionName: 'x' })
console.log(JSON.stringify([atStart, plainGate, ${OTEL}]))`
    const out = execFileSync(process.execPath, ['-e', script], { cwd: root, encoding: 'utf8' })
    expect(JSON.parse(out)).toEqual([false, false, true])
  })

  test('are kept out of what the native side receives', () => {
    const copy = validateGateOptions({ telemetry: true, onVerdict: () => {}, observeOnly: true })!
    expect(Object.keys(copy)).toEqual(['observeOnly'])
  })

  test('of the wrong type are refused naming the option', () => {
    const bad: [object, RegExp][] = [
      [{ telemetry: 'yes' }, /option 'telemetry': must be an object, got string/],
      [{ telemetry: { meterProvider: 1 } }, /option 'telemetry.meterProvider': must be a MeterProvider instance, got number/],
      [{ telemetry: { exporter: {} } }, /option 'telemetry': unknown field\(s\) 'exporter'/],
      [{ onVerdict: 'log' }, /option 'onVerdict': must be a function, got string/],
    ]
    for (const [options, message] of bad) {
      expect(() => Gate.fromObject(POLICIES, options as never)).toThrow(InvalidOptionsError)
      expect(() => Gate.fromObject(POLICIES, options as never)).toThrow(message)
    }
  })
})
