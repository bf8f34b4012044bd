// `kavach convert FILE --to toml|json`: the same policy set in the other format. The input
// must load, and the output is loaded again before it is written, so a conversion can never
// produce a file that means something else (or nothing).

import { writeFileSync } from 'node:fs'

import { Gate } from '../gate.js'
import { EXIT_OK } from './exit.js'
import { describe, loadPolicyFile, policyDocument, toJsonText } from './policy-files.js'

interface ConvertOptions {
  to: 'toml' | 'json'
  out?: string
  json?: boolean
}

export async function run(file: string, opts: ConvertOptions): Promise<number> {
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
