// The main entry does not load zod (start-up cost); the zod schemas live in `kavach-sdk/schema`
// and `policyJsonSchema()` loads them on first call. Real child processes, through the
// package's own `exports` map (dist/, built by `npm test` first; built here when missing).
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'

import { beforeAll, describe, expect, test } from 'vitest'

import { policyJsonSchema } from '../src/schema'

const root = join(__dirname, '..')
const run = (args: string[]) => execFileSync(process.execPath, args, { cwd: root, encoding: 'utf8' }).trim()
const ZOD_LOADED = "Object.keys(require.cache).some((f) => f.includes('/node_modules/zod/'))"

describe('the schema entry', () => {
  beforeAll(() => {
    if (!existsSync(join(root, 'dist/src/schema.js'))) execFileSync('npm', ['run', 'build:ts'], { cwd: root, stdio: 'inherit' })
  }, 120_000)

  test("require('kavach-sdk') loads no zod module, and a gate with options still works", () => {
    const out = run([
      '-e',
      `const { Gate } = require('kavach-sdk')
const g = Gate.fromObject({ policies: [] }, { observeOnly: false, invariants: [['cap', 'amount', 1]] })
console.log(JSON.stringify([${ZOD_LOADED}, g.evaluatorCount]))`,
    ])
    expect(JSON.parse(out)).toEqual([false, 3])
  })

  test('policyJsonSchema() on the main entry loads the schema on first call', () => {
    const out = run(['-e', `const k = require('kavach-sdk'); const s = k.policyJsonSchema(); console.log(JSON.stringify([typeof s.anyOf, ${ZOD_LOADED}]))`])
    expect(JSON.parse(out)).toEqual(['object', true])
    // The same JSON Schema as the schema module's (loaded lazily there, eagerly here).
    expect(JSON.parse(run(['-e', "console.log(JSON.stringify(require('kavach-sdk').policyJsonSchema()))"]))).toEqual(policyJsonSchema())
  })

  test("kavach-sdk/schema exports the zod schemas (CommonJS and ESM)", () => {
    const names = ['ConditionSchema', 'GateOptionsSchema', 'InvariantSchema', 'PolicySchema', 'PolicySetSchema', 'definePolicies', 'policyJsonSchema']
    const cjs = run(['-e', `console.log(JSON.stringify(Object.keys(require('kavach-sdk/schema')).sort()))`])
    expect(JSON.parse(cjs)).toEqual(names)
    const esm = run([
      '--input-type=module',
      '-e',
      `import { PolicySetSchema } from 'kavach-sdk/schema'
const ok = PolicySetSchema.safeParse({ policies: [{ name: 'p', effect: 'permit', conditions: [{ action: 'read' }] }] }).success
const bad = PolicySetSchema.safeParse({ policies: [{ name: 'p', effect: 'allow', conditions: [] }] }).success
console.log(JSON.stringify([ok, bad]))`,
    ])
    expect(JSON.parse(esm)).toEqual([true, false])
  })
})
