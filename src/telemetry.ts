// Gate telemetry and the `onVerdict` hook. Loaded only when a gate is built with `telemetry`
// or `onVerdict` (src/gate.ts): `instrument` installs wrapped `evaluate` / `evaluateAsync` on
// that gate instance, so a gate without these options runs the plain methods (no wrapper, no
// check on the hot path). Decisions stay in the Rust core; this only observes verdicts.
//
// Nothing here can change or lose a verdict: the wrapped methods return (or reject with)
// exactly what the plain ones do. An `onVerdict` hook or a telemetry SDK that throws is
// reported with `process.emitWarning` (code `KAVACH_ON_VERDICT_FAILED` or
// `KAVACH_TELEMETRY_FAILED`), never thrown into the evaluation.

import type { Attributes, Counter, Histogram, MeterProvider, Span, Tracer, TracerProvider } from '@opentelemetry/api'

import { InvalidOptionsError } from './errors.js'
import type { EvaluateInput, Gate } from './gate.js'
import type { Verdict } from './native.js'

/** `telemetry` as an object: where the instruments come from (default: the global providers). */
export interface TelemetryOptions {
  /** An OpenTelemetry `MeterProvider`; default `metrics.getMeterProvider()`. */
  meterProvider?: object
  /** An OpenTelemetry `TracerProvider`; default `trace.getTracerProvider()`. */
  tracerProvider?: object
}

/** Called once per verdict with the verdict and the context as passed to the gate. */
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

function instruments(options: true | TelemetryOptions): Instruments {
  const api = loadApi()
  const given = options === true ? {} : options
  const meter = ((given.meterProvider as MeterProvider | undefined) ?? api.metrics.getMeterProvider()).getMeter(SCOPE)
  const tracer = ((given.tracerProvider as TracerProvider | undefined) ?? api.trace.getTracerProvider()).getTracer(SCOPE)
  return {
    verdicts: meter.createCounter('kavach.verdicts', { description: 'Verdicts by kind, refuse code and deciding evaluator' }),
    duration: meter.createHistogram('kavach.evaluate.duration', { description: 'Time from the evaluate call to its verdict', unit: 's' }),
    tracer,
  }
}

function verdictAttributes(v: Verdict): Attributes {
  const a: Attributes = { 'kavach.verdict.kind': v.kind }
  if (v.code !== undefined) a['kavach.verdict.code'] = v.code
  if (v.evaluator !== undefined) a['kavach.verdict.evaluator'] = v.evaluator
  return a
}

function report(code: string, what: string, e: unknown): void {
  const message = e instanceof Error ? e.message : String(e)
  process.emitWarning(`kavach: ${what} threw (the verdict stands): ${message}`, { code, detail: e instanceof Error ? e.stack : undefined })
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

  const start = (): { t0: number; span: Span | undefined } => ({
    t0: performance.now(),
    span: ins?.tracer.startSpan('kavach.evaluate'),
  })
  const settled = (s: { t0: number; span: Span | undefined }, verdict: Verdict, ctx: EvaluateInput): void => {
    if (ins !== undefined) {
      try {
        const attributes = verdictAttributes(verdict)
        ins.verdicts.add(1, attributes)
        ins.duration.record((performance.now() - s.t0) / 1000, attributes)
        if (s.span !== undefined) {
          s.span.setAttributes(attributes)
          s.span.setAttribute('kavach.evaluation_id', verdict.evaluationId)
          if (verdict.permitToken !== undefined) s.span.setAttribute('kavach.action', verdict.permitToken.actionName)
          s.span.end()
        }
      } catch (e) {
        report('KAVACH_TELEMETRY_FAILED', 'telemetry', e)
      }
    }
    if (onVerdict !== undefined) {
      try {
        onVerdict(verdict, ctx)
      } catch (e) {
        report('KAVACH_ON_VERDICT_FAILED', 'onVerdict', e)
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
      report('KAVACH_TELEMETRY_FAILED', 'telemetry', e)
    }
  }

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
