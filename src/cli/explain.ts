// `kavach explain FILE --context ctx.json [--now ISO]`: the trace of `gate.explain` for one
// context. Exit 0 for a permit, 1 for a refusal or invalidation (scripts can branch on it).

import type { EvaluateOptions } from '../native.js'
import { EXIT_FINDINGS, EXIT_OK, UsageError } from './exit.js'
import { describe, loadPolicyFile } from './policy-files.js'
import { readInput } from './input-files.js'
import { ISO_DATE_TIME_HINT, parseIsoDateTime } from './iso-time.js'
import { explainText } from './trace-text.js'

interface ExplainOptions {
  context: string
  now?: string
  json?: boolean
}

export async function run(file: string, opts: ExplainOptions): Promise<number> {
  let ctx: EvaluateOptions
  try {
    ctx = JSON.parse(readInput(opts.context, 'context file').toString('utf8')) as EvaluateOptions
  } catch (e) {
    throw new UsageError(`--context '${opts.context}': ${(e as Error).message}`)
  }
  let nowMs: number | undefined
  if (opts.now !== undefined) {
    nowMs = parseIsoDateTime(opts.now)
    if (nowMs === undefined) throw new UsageError(`--now '${opts.now}': not ${ISO_DATE_TIME_HINT}`)
  }
  const loaded = loadPolicyFile(file, nowMs === undefined ? undefined : { testClock: { nowMs } })
  if ('error' in loaded) throw Object.assign(new Error(describe(loaded.error)), { code: loaded.error.code })
  const e = loaded.gate.explain(ctx)
  await loaded.gate.close()
  process.stdout.write(opts.json === true ? `${JSON.stringify({ ok: e.verdict.isPermit, ...e }, (_, v: unknown) => (Buffer.isBuffer(v) ? v.toString('base64') : v), 2)}\n` : `${explainText(e)}\n`)
  return e.verdict.isPermit ? EXIT_OK : EXIT_FINDINGS
}
