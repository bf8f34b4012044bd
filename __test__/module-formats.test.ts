// The published package works from both `require` and `import` (real child processes, through
// the package's own `exports` map), and its declarations contain no `any`.
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

import { beforeAll, describe, expect, test } from 'vitest'

const root = join(__dirname, '..')
const run = (args: string[]) => execFileSync(process.execPath, args, { cwd: root, encoding: 'utf8' }).trim()

const SCRIPT = `
const gate = Gate.fromObject({ policies: [{ name: 'p', effect: 'permit', conditions: [{ action: 'read' }] }] })
const ok = gate.evaluate({ principalId: 'u', principalKind: 'user', actionName: 'read' }).kind
let refused = 'no'
try { gate.check({ principalId: 'u', principalKind: 'user', actionName: 'write' }) } catch (e) { refused = e instanceof Refused ? e.code : 'wrong class' }
console.log(JSON.stringify([ok, refused, typeof guarded]))
`

describe('module formats', () => {
  beforeAll(() => {
    // `npm test` builds dist first; build it here when running this file alone.
    if (!existsSync(join(root, 'dist/index.mjs'))) execFileSync('npm', ['run', 'build:ts'], { cwd: root, stdio: 'inherit' })
  }, 120_000)

  test('require("kavach-sdk") works (CommonJS)', () => {
    const out = run(['-e', `const { Gate, Refused, guarded } = require('kavach-sdk')\n${SCRIPT}`])
    expect(JSON.parse(out)).toEqual(['permit', 'NO_POLICY_MATCH', 'function'])
  })

  test('import { Gate } from "kavach-sdk" works (ESM)', () => {
    const out = run(['--input-type=module', '-e', `import { Gate, Refused, guarded } from 'kavach-sdk'\n${SCRIPT}`])
    expect(JSON.parse(out)).toEqual(['permit', 'NO_POLICY_MATCH', 'function'])
  })

  test('ESM and CommonJS share one copy of each class', () => {
    const out = run(['--input-type=module', '-e', `import { createRequire } from 'node:module'\nimport { Refused } from 'kavach-sdk'\nconst cjs = createRequire(import.meta.url)('kavach-sdk')\nconsole.log(String(cjs.Refused === Refused))`])
    expect(out).toBe('true')
  })

  test('published declarations have no any', () => {
    const files: string[] = []
    const walk = (dir: string) => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        if (e.isDirectory()) walk(join(dir, e.name))
        else if (e.name.endsWith('.d.ts') && e.name !== 'binding.d.ts') files.push(join(dir, e.name))
      }
    }
    walk(join(root, 'dist'))
    files.push(join(root, 'binding.d.ts'))
    expect(files.length).toBeGreaterThan(0)
    for (const f of files) {
      const text = readFileSync(f, 'utf8').replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '')
      expect(text, f).not.toMatch(/\bany\b/)
    }
  })
})
