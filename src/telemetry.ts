// Gate telemetry and the `onVerdict` hook. Loaded only when a gate is built with `telemetry`
// or `onVerdict` (src/gate.ts): `instrument` installs wrapped `evaluate` / `evaluateAsync` on
// that gate instance, so a gate without these options runs the plain methods (no wrapper, no
// check on the hot path). Verdicts the integrations reach without evaluating reach the same
// hooks through `observeUnevaluated`. Decisions stay in the Rust core; this only observes verdicts.
//
// Nothing here can change or lose a verdict: the wrapped methods return (or reject with)
// exactly what the plain ones do, and `onVerdict` gets a frozen copy of the verdict (a hook
// that writes to it, at once or later, cannot change what the caller got). An `onVerdict` hook
// that throws or returns a promise that rejects, or a telemetry SDK that throws while an
// evaluation runs (starting or ending a span, recording a metric), is reported with
// `process.emitWarning` (code `KAVACH_ON_VERDICT_FAILED` or `KAVACH_TELEMETRY_FAILED`), never
// thrown into the evaluation. A provider that throws while the gate is built (`getMeter`,
// `getTracer`, creating the instruments) is a configuration error: the gate is not built, and
// the error is an `InvalidOptionsError` naming the option.

import type { Attributes, Counter, Histogram, MeterProvider, Span, Tracer, TracerProvider } from '@opentelemetry/api'

import { isThenable } from './arguments.js'
import { InvalidOptionsError, thrownText } from './errors.js'
import type { EvaluateInput, Gate } from './gate.js'
import type { ObservedVerdict, PermitTokenView, Verdict } from './native.js'

/** `telemetry` as an object: where the instruments come from (default: the global providers). */
export interface TelemetryOptions {
  /** An OpenTelemetry `MeterProvider`; default `metrics.getMeterProvider()`. */
  meterProvider?: object
  /** An OpenTelemetry `TracerProvider`; default `trace.getTracerProvider()`. */
  tracerProvider?: object
}

// Typed `=> void` (not `=> void | PromiseLike<void>`): an async function is assignable to it,
// and so is a function that returns something else (such as `(v) => list.push(v)`).
/**
 * Called once per verdict with the verdict and the context as passed to the gate. The verdict is
 * returned without waiting for a promise the hook returns; a rejection is reported as a warning.
 */
export type OnVerdict = (verdict: Verdict, ctx: EvaluateInput) => void

/** The gate options handled in JavaScript (never passed to the native side). */
export interface GateHooks {
  telemetry?: boolean | TelemetryOptions
  onVerdict?: OnVerdict
}

const SCOPE = 'kavach-sdk'

/** The instruments of one gate. */
interface Instruments {
  verdicts: Counter
  duration: Histogram
  tracer: Tracer
}

function loadApi(): typeof import('@opentelemetry/api') {
  try {
    return require('@opentelemetry/api') as typeof import('@opentelemetry/api')
  } catch (e) {
    throw new InvalidOptionsError("option 'telemetry': needs the optional peer dependency @opentelemetry/api (npm install @opentelemetry/api)", {
      cause: e,
    })
  }
}

/** `make()`, or an InvalidOptionsError naming `option` when the provider throws. */
function fromProvider<T>(option: string, what: string, make: () => T): T {
  try {
    return make()
  } catch (e) {
    throw new InvalidOptionsError(`option '${option}': ${what} threw: ${thrownText(e)}`, { cause: e })
  }
}

function instruments(options: true | TelemetryOptions): Instruments {
  const api = loadApi()
  const given = options === true ? {} : options
  // Without a provider in the options, the global one is used: the error names `telemetry`.
  const meterOption = given.meterProvider === undefined ? 'telemetry' : 'telemetry.meterProvider'
  const tracerOption = given.tracerProvider === undefined ? 'telemetry' : 'telemetry.tracerProvider'
  const meterProvider = (given.meterProvider as MeterProvider | undefined) ?? api.metrics.getMeterProvider()
  const tracerProvider = (given.tracerProvider as TracerProvider | undefined) ?? api.trace.getTracerProvider()
  const meter = fromProvider(meterOption, `getMeter('${SCOPE}')`, () => meterProvider.getMeter(SCOPE))
  const tracer = fromProvider(tracerOption, `getTracer('${SCOPE}')`, () => tracerProvider.getTracer(SCOPE))
  return {
    verdicts: fromProvider(meterOption, 'createCounter()', () =>
      meter.createCounter('kavach.verdicts', { description: 'Verdicts by kind, refuse code and deciding evaluator' }),
    ),
    duration: fromProvider(meterOption, 'createHistogram()', () =>
      meter.createHistogram('kavach.evaluate.duration', { description: 'Time from the evaluate call to its verdict', unit: 's' }),
    ),
    tracer,
  }
}

function verdictAttributes(v: Verdict): Attributes {
  const a: Attributes = { 'kavach.verdict.kind': v.kind }
  if (v.code !== undefined) a['kavach.verdict.code'] = v.code
  if (v.evaluator !== undefined) a['kavach.verdict.evaluator'] = v.evaluator
  return a
}

/** The stack of an Error, read defensively (a getter may throw). */
function stackOf(e: unknown): string | undefined {
  try {
    return e instanceof Error ? e.stack : undefined
  } catch {
    return undefined
  }
}

function report(code: string, what: string, e: unknown): void {
  process.emitWarning(`kavach: ${what} (the verdict stands): ${thrownText(e)}`, { code, detail: stackOf(e) })
}

/** A frozen copy of a permit token (its signature copied: a Buffer cannot be frozen). */
function frozenToken(t: PermitTokenView, signature: Buffer | undefined): PermitTokenView {
  return Object.freeze({ ...t, signature })
}

/** A frozen copy of `v` and of the objects in it, for a hook: the caller keeps `v` as it is. */
export function frozenCopy<V extends Verdict | ObservedVerdict>(v: V): V {
  const signature = v.signature === undefined ? undefined : Buffer.from(v.signature)
  const copy = { ...v, signature }
  if (v.permitToken !== undefined) copy.permitToken = frozenToken(v.permitToken, signature)
  if (v.scope !== undefined) copy.scope = Object.freeze({ ...v.scope })
  if ('observed' in copy && copy.observed !== undefined) copy.observed = frozenCopy(copy.observed)
  return Object.freeze(copy)
}

/**
 * Per instrumented gate: reports a verdict an integration reached without evaluating
 * (src/integrations/unevaluated.ts) to its telemetry and `onVerdict`, as an evaluation's.
 */
const unevaluatedObservers = new WeakMap<Gate, (verdict: Verdict, ctx: EvaluateInput) => void>()

/** Reports `verdict` to `gate`'s telemetry and `onVerdict`, if it has them. */
export function observeUnevaluated(gate: Gate, verdict: Verdict, ctx: EvaluateInput): void {
  unevaluatedObservers.get(gate)?.(verdict, ctx)
}

/** Wraps `gate.evaluate` and `gate.evaluateAsync` of this one gate. */
export function instrument(gate: Gate, hooks: GateHooks): void {
  const ins = hooks.telemetry === undefined || hooks.telemetry === false ? undefined : instruments(hooks.telemetry)
  const onVerdict = hooks.onVerdict
  if (ins === undefined && onVerdict === undefined) return
  const plainEvaluate = gate.evaluate
  const plainEvaluateAsync = gate.evaluateAsync
  // The in-process evaluateAsync answers through `this.evaluate`: observed once, by the async wrapper.
  let insideAsync = 0

  const start = (): { t0: number; span: Span | undefined } => {
    const t0 = performance.now()
    let span: Span | undefined
    if (ins !== undefined) {
      try {
        span = ins.tracer.startSpan('kavach.evaluate')
      } catch (e) {
        // The evaluation runs without its span; the metrics are still recorded.
        report('KAVACH_TELEMETRY_FAILED', 'telemetry threw', e)
      }
    }
    return { t0, span }
  }
  const settled = (s: { t0: number; span: Span | undefined }, verdict: Verdict, ctx: EvaluateInput): void => {
    if (ins !== undefined) {
      const attributes = verdictAttributes(verdict)
      // Metrics and span apart: a meter that throws does not leave the span open, nor the reverse.
      try {
        ins.verdicts.add(1, attributes)
        ins.duration.record((performance.now() - s.t0) / 1000, attributes)
      } catch (e) {
        report('KAVACH_TELEMETRY_FAILED', 'telemetry threw', e)
      }
      if (s.span !== undefined) {
        try {
          s.span.setAttributes(attributes)
          s.span.setAttribute('kavach.evaluation_id', verdict.evaluationId)
          if (verdict.permitToken !== undefined) s.span.setAttribute('kavach.action', verdict.permitToken.actionName)
          s.span.end()
        } catch (e) {
          report('KAVACH_TELEMETRY_FAILED', 'telemetry threw', e)
        }
      }
    }
    if (onVerdict !== undefined) {
      try {
        const r: unknown = onVerdict(frozenCopy(verdict), ctx)
        // An async hook (a write to a sink) is not awaited; its rejection is reported like a throw.
        if (isThenable(r)) r.then(undefined, (e: unknown) => report('KAVACH_ON_VERDICT_FAILED', "onVerdict's promise rejected", e))
      } catch (e) {
        report('KAVACH_ON_VERDICT_FAILED', 'onVerdict threw', e)
      }
    }
  }
  // An evaluation that throws (bad context, closed store) has no verdict: the span records the error.
  const failed = (s: { t0: number; span: Span | undefined }, error: unknown): void => {
    if (s.span === undefined) return
    try {
      const code = (error as { code?: unknown }).code
      if (typeof code === 'string') s.span.setAttribute('kavach.error.code', code)
      s.span.recordException(error instanceof Error ? error : String(error))
      s.span.setStatus({ code: 2 /* SpanStatusCode.ERROR */, message: error instanceof Error ? error.message : String(error) })
      s.span.end()
    } catch (e) {
      report('KAVACH_TELEMETRY_FAILED', 'telemetry threw', e)
    }
  }

  unevaluatedObservers.set(gate, (verdict, ctx) => settled(start(), verdict, ctx))

  Object.defineProperty(gate, 'evaluate', {
    configurable: true,
    value: function evaluate(ctx: EvaluateInput): Verdict {
      if (insideAsync > 0) return plainEvaluate.call(gate, ctx)
      const s = start()
      let verdict: Verdict
      try {
        verdict = plainEvaluate.call(gate, ctx)
      } catch (e) {
        failed(s, e)
        throw e
      }
      settled(s, verdict, ctx)
      return verdict
    },
  })
  Object.defineProperty(gate, 'evaluateAsync', {
    configurable: true,
    value: function evaluateAsync(ctx: EvaluateInput): Promise<Verdict> {
      const s = start()
      let pending: Promise<Verdict>
      insideAsync++
      try {
        pending = plainEvaluateAsync.call(gate, ctx)
      } finally {
        insideAsync--
      }
      return pending.then(
        (verdict) => {
          settled(s, verdict, ctx)
          return verdict
        },
        (e: unknown) => {
          failed(s, e)
          throw e
        },
      )
    },
  })
}
