// `kavach lint FILE… [--actions a,b,c]`: the policy analysis of the Rust core (`gate.analyze()`)
// on the files merged into one set. Exit 1 when there is a warning; info findings (overlaps
// decided by order, unnamed actions) are printed but do not fail the run.

import { Gate } from '../gate.js'
import { EXIT_FINDINGS, EXIT_OK } from './exit.js'
import { mergedPolicies } from './policy-files.js'

interface LintOptions {
  actions?: string
  json?: boolean
}

export async function run(files: string[], opts: LintOptions): Promise<number> {
  const gate = Gate.fromJsonString(await mergedPolicies(files))
  const knownActions = opts.actions
    ?.split(',')
    .map((a) => a.trim())
    .filter((a) => a !== '')
  const findings = gate.analyze(knownActions === undefined ? undefined : { knownActions })
  const policies = gate.policyCount
  await gate.close()
  const warnings = findings.filter((f) => f.severity === 'warning').length
  if (opts.json === true) {
    process.stdout.write(`${JSON.stringify({ ok: warnings === 0, policies, warnings, findings }, null, 2)}\n`)
  } else {
    for (const f of findings) process.stdout.write(`${f.severity.padEnd(7)} ${f.kind}: ${f.message}\n`)
    process.stdout.write(`${policies} policies, ${warnings} warning(s), ${findings.length - warnings} info\n`)
  }
  return warnings === 0 ? EXIT_OK : EXIT_FINDINGS
}
