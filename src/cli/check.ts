// `kavach check FILE…`: does each policy file load, read and parsed exactly as the runtime
// loads it? Every file is checked (one bad file does not hide the next); each error names the
// file, policy, key and position. The policy count is the loaded gate's: nothing is parsed twice.

import { EXIT_FINDINGS, EXIT_OK } from './exit.js'
import { type FileError, describe, loadPolicyFile } from './policy-files.js'

interface FileResult {
  file: string
  ok: boolean
  policies?: number
  error?: FileError
}

export async function run(files: string[], opts: { json?: boolean }): Promise<number> {
  const results: FileResult[] = []
  for (const file of files) {
    const loaded = loadPolicyFile(file)
    if ('error' in loaded) {
      results.push({ file, ok: false, error: loaded.error })
    } else {
      const policies = loaded.gate.policyCount
      await loaded.gate.close()
      results.push({ file, ok: true, policies })
    }
  }
  if (opts.json === true) {
    process.stdout.write(`${JSON.stringify({ ok: results.every((r) => r.ok), files: results }, null, 2)}\n`)
  } else {
    for (const r of results) {
      if (r.ok) process.stdout.write(`ok     ${r.file} (${r.policies} policies)\n`)
      else process.stdout.write(`error  ${describe(r.error!)}\n`)
    }
  }
  return results.every((r) => r.ok) ? EXIT_OK : EXIT_FINDINGS
}
