// `kavach convert FILE --to toml|json`: the same policy set in the other format. The input
// must load, and the output is loaded again before it is written, so a conversion can never
// produce a file that means something else (or nothing).

import { writeFileSync } from 'node:fs'

import { Gate } from '../gate.js'
import { EXIT_OK } from './exit.js'
import { checkOutputIsNoInput } from './input-files.js'
import { describe, loadPolicyFile, policyDocument, toJsonText } from './policy-files.js'

interface ConvertOptions {
  to: 'toml' | 'json'
  out?: string
  json?: boolean
}

const I64_MIN = -(2n ** 63n)
const I64_MAX = 2n ** 63n - 1n

/**
 * The first integer of `v` outside TOML's 64-bit range, with its path. The JSON reader keeps
 * integers past 2^53 exact as bigints (policyDocument); TOML cannot write those past 2^63.
 */
function beyondTomlInteger(v: unknown, path: string): { path: string; value: bigint } | undefined {
  if (typeof v === 'bigint') return v < I64_MIN || v > I64_MAX ? { path, value: v } : undefined
  if (typeof v !== 'object' || v === null) return undefined
  for (const [k, x] of Object.entries(v)) {
    const found = beyondTomlInteger(x, Array.isArray(v) ? `${path}[${k}]` : path === '' ? k : `${path}.${k}`)
    if (found !== undefined) return found
  }
  return undefined
}

export async function run(file: string, opts: ConvertOptions): Promise<number> {
  checkOutputIsNoInput('--out', opts.out, [{ path: file, what: 'policy file' }])
  const loaded = loadPolicyFile(file)
  if ('error' in loaded) throw Object.assign(new Error(describe(loaded.error)), { code: loaded.error.code })
  await loaded.gate.close()
  // The document as the loader read it: the same text, integers past 2^53 kept exact.
  const doc = await policyDocument(file, loaded.text)
  let text: string
  if (opts.to === 'json') {
    text = `${toJsonText(doc, 2)}\n`
    await Gate.fromJsonString(text).close()
  } else {
    const wide = beyondTomlInteger(doc, '')
    if (wide !== undefined) {
      throw Object.assign(
        new Error(
          `${file}: ${wide.path} is ${wide.value}, an integer TOML cannot hold (TOML integers are 64-bit, ${I64_MIN} to ${I64_MAX}); ` +
            `write it with an exponent (${Number(wide.value).toExponential()}) only where a non-integer number is accepted (not \`priority\`), or keep the file in JSON`,
        ),
        { code: 'CONVERT' },
      )
    }
    const { stringify } = await import('smol-toml')
    // TOML writes the list under `policy` ([[policy]] tables), the language's TOML spelling.
    const { policies, ...rest } = doc
    text = `${stringify(policies === undefined ? doc : { ...rest, policy: policies })}\n`
    await Gate.fromToml(text).close()
  }
  if (opts.out !== undefined) writeFileSync(opts.out, text)
  if (opts.json === true) {
    // The converted text in `output` unless it went to --out.
    const result = opts.out === undefined ? { ok: true, file, to: opts.to, output: text } : { ok: true, file, to: opts.to, out: opts.out }
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`)
  } else if (opts.out === undefined) {
    process.stdout.write(text)
  }
  return EXIT_OK
}
