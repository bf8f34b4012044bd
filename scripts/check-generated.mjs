// In CI, regenerating the napi loader and typings must change nothing: binding.js and
// binding.d.ts are committed, and a diff means someone changed the Rust API without
// committing the regenerated files (or hand-edited them).
import { execFileSync } from 'node:child_process'

import { policySchemaIsCurrent } from './policy-schema.mjs'

// policy.schema.json is generated from the zod schema (needs dist/, built by `npm test` first).
if (!policySchemaIsCurrent()) {
  console.error('policy.schema.json is out of date: run `npm run build:ts && node scripts/policy-schema.mjs` and commit it')
  process.exit(1)
}
console.log('policy.schema.json is up to date')

if (process.env.CI === 'true') {
  try {
    execFileSync('git', ['diff', '--exit-code', '--', 'binding.js', 'binding.d.ts'], { stdio: 'inherit' })
    console.log('generated binding files are up to date')
  } catch {
    console.error('binding.js / binding.d.ts changed when regenerated: commit the regenerated files')
    process.exit(1)
  }
} else {
  console.log('check:generated runs in CI only (CI=true)')
}
