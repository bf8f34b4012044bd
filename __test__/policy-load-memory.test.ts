// Policy sets given as JSON text or as objects are compiled one policy at a time while they are
// read (crates/kavach-core/src/policy/strict_json.rs, crates/kavach-node/src/policy_value.rs):
// loading a large set does not hold the whole document a second time in native memory, and
// a document with several problems still reports the same first one.
import { join } from 'node:path'

import { describe, expect, test } from 'vitest'

import { Gate, PolicyParseError, type PolicySetInput } from '../index'
import { runTsx } from './fixtures/run-tsx'

const ok = (name: string) => ({ name, effect: 'permit' as const, conditions: [{ action: name }] })
const allow = { name: 'b', effect: 'allow', conditions: [] }

/** The message of the error `load` throws; it must be a PolicyParseError. */
function problem(load: () => unknown): string {
  try {
    load()
  } catch (e) {
    expect(e).toBeInstanceOf(PolicyParseError)
    return (e as Error).message
  }
  throw new Error('loaded without an error')
}

/** Every loader of an object document, and a reload of each kind, give the same message. */
function everyLoader(doc: unknown): string {
  const gate = Gate.fromObject({ policies: [ok('keep')] })
  const messages = [
    problem(() => Gate.fromObject(doc as PolicySetInput)),
    problem(() => Gate.fromJsonString(JSON.stringify(doc))),
    problem(() => gate.reloadObject(doc as PolicySetInput)),
    problem(() => gate.reloadJson(JSON.stringify(doc))),
  ]
  // A failed reload keeps the policies the gate had.
  expect(gate.evaluate({ principalId: 'p', principalKind: 'agent', actionName: 'keep' }).isPermit).toBe(true)
  expect(new Set(messages).size, messages.join('\n')).toBe(1)
  return messages[0]!
}

describe('a document with several problems reports the first, as before', () => {
  test('the shape of the document before its policies', () => {
    expect(everyLoader({ policies: [allow], version: 2 })).toMatch(/unknown top-level key 'version'/)
    expect(everyLoader({ policies: [allow], policy: [] })).toMatch(/'policies' or 'policy' at the top level, not both/)
    expect(everyLoader({ policies: { name: 'x' } })).toMatch(/top-level key 'policies' must be an array/)
    // Only the top-level list is read policy by policy, not one nested under the same name.
    expect(everyLoader({ policies: { policies: [ok('a')] } })).toMatch(/top-level key 'policies' must be an array of policies \(TOML: \[\[policy\]\] tables\), got object/)
    expect(everyLoader([allow])).toMatch(/got array/)
  })

  test('policies in declaration order: a duplicate name, or the first invalid policy', () => {
    expect(everyLoader({ policies: [ok('a'), ok('a'), allow] })).toMatch(/policy 'a': duplicate policy name \(policies #0 and #1\)/)
    expect(everyLoader({ policy: [ok('a'), allow, ok('a')] })).toMatch(/policy 'b': key 'effect' must be 'permit' or 'refuse'/)
  })

  test('an object whose later policy cannot be converted names that policy, as before', () => {
    const doc = { policies: [allow, { name: 'n', effect: 'permit', conditions: [{ param_max: { field: 'a', max: Number.NaN } }] }] }
    expect(problem(() => Gate.fromObject(doc as PolicySetInput))).toMatch(/policy 'n': key 'max' must be a finite number, got NaN/)
  })

  test('a valid set read in pieces decides as one read whole', () => {
    const doc = { policy: [ok('a'), { name: 'no_b', effect: 'refuse', conditions: [{ action: 'b' }] }, ok('b')] }
    for (const gate of [Gate.fromObject(doc as PolicySetInput), Gate.fromJsonString(JSON.stringify(doc)), Gate.fromToml('[[policy]]\nname = "a"\neffect = "permit"\nconditions = [{ action = "a" }]\n[[policy]]\nname = "no_b"\neffect = "refuse"\nconditions = [{ action = "b" }]\n[[policy]]\nname = "b"\neffect = "permit"\nconditions = [{ action = "b" }]\n')]) {
      expect(gate.evaluate({ principalId: 'p', principalKind: 'agent', actionName: 'a' }).isPermit).toBe(true)
      const b = gate.evaluate({ principalId: 'p', principalKind: 'agent', actionName: 'b' })
      expect(b.isRefuse && b.reason).toBe("refused by policy 'no_b'")
    }
  })
})

/** Loads `count` policies in a child process (fixtures/load-peak.ts) and returns its figures. */
async function loadInChild(format: 'json' | 'object' | 'toml', count: number): Promise<{ textBytes: number; growth: number; retained: number }> {
  const { code, signal, stdout, stderr } = await runTsx(join(__dirname, 'fixtures', 'load-peak.ts'), { nodeArgs: ['--expose-gc'], args: [format, String(count)], killAfterMs: 100_000 })
  expect(signal, stderr).toBeNull()
  expect(code, stderr).toBe(0)
  const figures = JSON.parse(stdout) as { textBytes: number; growth: number; retained: number; lastPermits: boolean }
  expect(figures.lastPermits).toBe(true)
  expect(figures.textBytes).toBeGreaterThan(8_000_000)
  return figures
}

describe('loading a large policy set', () => {
  // 50,000 policies, about 9 MB of JSON. Read whole into a serde_json::Value first, the set
  // raised the RSS high-water mark by about 30 times its text (JSON) and 42 times (object).
  for (const [format, bound] of [['json', 10], ['object', 20]] as const) {
    test(`from ${format === 'json' ? 'JSON text' : 'an object'} raises peak memory by less than ${bound} times the text`, async () => {
      const { textBytes, growth } = await loadInChild(format, 50_000)
      expect(growth / textBytes).toBeLessThan(bound)
    }, 120_000)
  }

  // TOML is parsed whole (about 25 times this text at the peak); the memory freed after the
  // load goes back to the system (crates/kavach-node/src/heap_trim.rs). Without that the
  // process kept about 24 times the text (323 MB) once the load was over.
  test('from TOML text the memory of the parse is given back once the load is over', async () => {
    const { textBytes, retained } = await loadInChild('toml', 50_000)
    expect(retained / textBytes).toBeLessThan(5)
  }, 120_000)
})
