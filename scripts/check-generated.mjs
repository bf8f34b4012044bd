// Generated files must match their sources: policy.schema.json (the zod schema),
// src/generated/layout.ts (the fast-path and batch layouts, defined in Rust and rendered by
// crates/kavach-node/src/layout.rs, whose test compares), src/generated/time-zones.ts (the
// loader's zone names, crates/kavach-node/src/time_zones.rs), src/generated/native-signatures.ts
// (rendered from binding.d.ts by scripts/native-signatures.mjs), and, in CI, the napi loader and
// typings (binding.js and binding.d.ts are committed, and a diff means someone changed the
// Rust API without committing the regenerated files, or hand-edited them).
import { execFileSync, spawnSync } from 'node:child_process'

import { policySchemaIsCurrent } from './policy-schema.mjs'

// policy.schema.json is generated from the zod schema (needs dist/, built by `npm test` first).
if (!policySchemaIsCurrent()) {
  console.error('policy.schema.json is out of date: run `npm run build:ts && node scripts/policy-schema.mjs` and commit it')
  process.exit(1)
}
console.log('policy.schema.json is up to date')

for (const [module, file] of [
  ['layout', 'layout.ts'],
  ['time_zones', 'time-zones.ts'],
]) {
  try {
    execFileSync('cargo', ['test', '--quiet', '-p', 'kavach-node', '--lib', `${module}::`], { stdio: 'inherit' })
    console.log(`src/generated/${file} is up to date`)
  } catch {
    console.error(`src/generated/${file} is out of date: run \`KAVACH_WRITE_GENERATED=1 cargo test -p kavach-node --lib ${module}\` and commit it`)
    process.exit(1)
  }
}

// src/generated/native-signatures.ts must render from binding.d.ts as it stands (the build
// writes it; this catches a later hand edit, and CI below checks it is committed).
if (spawnSync(process.execPath, ['scripts/native-signatures.mjs', '--check'], { stdio: 'inherit' }).status !== 0) process.exit(1)

if (process.env.CI === 'true') {
  try {
    execFileSync('git', ['diff', '--exit-code', '--', 'binding.js', 'binding.d.ts', 'src/generated/native-signatures.ts'], { stdio: 'inherit' })
    console.log('generated binding files are up to date')
  } catch {
    console.error('binding.js / binding.d.ts / src/generated/native-signatures.ts changed when regenerated: commit the regenerated files')
    process.exit(1)
  }
} else {
  console.log('check:generated runs in CI only (CI=true)')
}
