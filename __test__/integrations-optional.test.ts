// The integration frameworks are optional peer dependencies: kavach-sdk loads, and every
// integration factory runs, in a process where none of them can be resolved.

import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'

import { describe, expect, test } from 'vitest'

const root = join(__dirname, '..')
const FRAMEWORKS = ['@modelcontextprotocol/sdk', '@openai/agents', 'ai', 'express', 'fastify']

describe('integrations without their frameworks', () => {
  test('kavach-sdk loads and builds every integration with the frameworks unresolvable', () => {
    const out = execFileSync(process.execPath, [join(root, '__test__/fixtures/load-without-frameworks.cjs')], { cwd: root, encoding: 'utf8' })
    expect(JSON.parse(out.trim())).toEqual(['function', 'function', 'function', 'function', 'function', 'function'])
  })

  test('package.json declares each framework as an optional peer dependency', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
      peerDependencies?: Record<string, string>
      peerDependenciesMeta?: Record<string, { optional?: boolean }>
      dependencies?: Record<string, string>
    }
    for (const name of FRAMEWORKS) {
      expect(pkg.peerDependencies?.[name], name).toBeTypeOf('string')
      expect(pkg.peerDependenciesMeta?.[name]?.optional, name).toBe(true)
      expect(pkg.dependencies?.[name], name).toBeUndefined()
    }
  })
})
