// The zod schema (src/schema.ts) and the native loader agree on what is a valid policy set.
// The loader is the reference; the corpus: the example policies, every TOML policy set written
// out in the TypeScript tests and the Rust loader's tests, and generated sets mixing valid and
// invalid values for every key (fast-check).
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'

import Ajv2020 from 'ajv/dist/2020'
import fc from 'fast-check'
import { parse as parseToml } from 'smol-toml'
import { describe, expect, test } from 'vitest'

import { Gate, definePolicies } from '../index'
import { PolicySetSchema } from '../src/schema'
import { tomlSetsIn } from './fixtures/policy-corpus'

const root = join(__dirname, '..')

function loads(build: () => Gate): string | true {
  try {
    build()
    return true
  } catch (e) {
    expect((e as { code?: string }).code).toBe('POLICY_PARSE')
    return (e as Error).message
  }
}

/** Both verdicts for one policy set given as a plain object. */
function judge(set: unknown): { zod: boolean; native: string | true } {
  const native = loads(() => Gate.fromObject(set as never))
  // The JSON text path reaches the same loader through serde's parser. It reads an integer past
  // 2^53 exactly, which a JavaScript number does not hold, so such a priority is taken from
  // text and refused from an object (both as intended, see below).
  const text = JSON.stringify(set)
  if (!/"priority":-?\d{16,}[,}]/.test(text)) expect(loads(() => Gate.fromJsonString(text)) === true).toBe(native === true)
  return { zod: PolicySetSchema.safeParse(set).success, native }
}

/** JSON policy sets and single conditions in the Rust loader's tests (raw strings). */
function jsonSetsIn(text: string): unknown[] {
  const out: unknown[] = []
  for (const m of text.matchAll(/(cond\()?r#"(.*?)"#/g)) {
    let v: unknown
    try {
      v = JSON.parse(m[2]!)
    } catch {
      continue
    }
    if (m[1] !== undefined) out.push({ policies: [{ name: 'x', effect: 'permit', conditions: [v] }] })
    else if (typeof v === 'object' && v !== null && ('policies' in v || 'policy' in v)) out.push(v)
  }
  return out
}

const sourceFiles = () => [
  ...readdirSync(join(root, '__test__'))
    .filter((f) => f.endsWith('.test.ts') && f !== 'schema-corpus.test.ts')
    .map((f) => join(root, '__test__', f)),
  ...readdirSync(join(root, 'crates/kavach-core/tests'))
    .filter((f) => f.endsWith('.rs'))
    .map((f) => join(root, 'crates/kavach-core/tests', f)),
]

describe('zod schema and native loader agree', () => {
  test('on the example policies and every policy set in the tests (TypeScript and Rust)', () => {
    let valid = 0
    let invalid = 0
    const count = (native: string | true) => (native === true ? valid++ : invalid++)
    const tomls = [{ file: 'examples/policies/support.toml', toml: readFileSync(join(root, 'examples/policies/support.toml'), 'utf8') }]
    for (const file of sourceFiles()) {
      const text = readFileSync(file, 'utf8')
      for (const toml of tomlSetsIn(text)) tomls.push({ file, toml })
      for (const set of jsonSetsIn(text)) {
        const { zod, native } = judge(set)
        expect({ file, set, native, zod }).toEqual({ file, set, native, zod: native === true })
        count(native)
      }
    }
    for (const { file, toml } of tomls) {
      let set: unknown
      try {
        set = parseToml(toml)
      } catch {
        continue // a TOML syntax error: nothing for the schema to judge
      }
      const native = loads(() => Gate.fromToml(toml))
      const zod = PolicySetSchema.safeParse(set).success
      expect({ file, toml, native, zod }).toEqual({ file, toml, native, zod: native === true })
      count(native)
    }
    // The corpus holds both kinds in numbers (a broken extraction must not pass vacuously).
    expect(valid).toBeGreaterThan(5)
    expect(invalid).toBeGreaterThan(20)
  })

  test('the JSON Schema (policy.schema.json) agrees with the loader where a pattern can say it; priorities to 2^63', () => {
    // ajv (a dependency of the MCP SDK) validates as an editor does.
    const validate = new Ajv2020({ strict: false }).compile(JSON.parse(readFileSync(join(root, 'policy.schema.json'), 'utf8')) as object)
    const one = (cond: string, extra = '') => `{"policies":[{"name":"p","effect":"permit","conditions":[${cond}]${extra}}]}`
    const texts = [
      one('', ',"priority":9007199254740993'),
      one('', ',"priority":9223372036854775807'),
      one('', ',"priority":-9223372036854775808'),
      one('', ',"priority":-9223372036854777856'),
      one('', ',"priority":1e2'),
      one('{"action":"a*b"}'),
      one('{"action":" a"}'),
      one('{"action":"a.*"}'),
      one('{"resource":"*"}'),
      one('{"param_max":{"field":" ","max":1}}'),
      one('{"param_in":{"field":"x\\u0007","values":["a"]}}'),
      one('{"session_age_max":"0h"}'),
      one('{"session_age_max":"007h"}'),
      one('{"time_window":"09:00-24:00"}'),
      one('{"time_window":"09:00-18:60"}'),
      '{"policies":[{"name":"a\\u0000","effect":"permit","conditions":[]}]}',
      '{"policies":[{"name":"a\\u0085","effect":"permit","conditions":[]}]}',
    ]
    for (const text of texts) {
      const native = loads(() => Gate.fromJsonString(text)) === true
      expect([text, validate(JSON.parse(text))]).toEqual([text, native])
      // zod checks JavaScript values: a priority past 2^53 is not exact there (below).
      if (!/priority":-?9\d{15}/.test(text)) expect([text, PolicySetSchema.safeParse(JSON.parse(text)).success]).toEqual([text, native])
    }
    // As JavaScript numbers (Gate.fromObject), the loader takes safe integers only, and so does zod.
    for (const priority of [2 ** 53 - 1, -(2 ** 53 - 1), 2 ** 53, 2 ** 62, -(2 ** 63), 2 ** 63]) {
      const set = { policies: [{ name: 'p', effect: 'permit', priority, conditions: [] }] }
      expect([priority, PolicySetSchema.safeParse(set).success]).toEqual([priority, loads(() => Gate.fromObject(set as never)) === true])
    }
  })

  test('on generated policy sets with valid and invalid values for every key', () => {
    const pick = (...xs: unknown[]) => fc.constantFrom(...xs)
    const duration = pick('30s', '15m', '24h', '7d', '007s', '3660d', '3661d', '0s', '', '24', 'h', '1.5h', '24 h', '1w', 24)
    const patternArb = pick('refund', 'refund.*', 'refund*', '*', 'ref*und', '*.refund', '', ' refund', 'a*b', 'a.b.c', 7)
    const windowArb = pick(
      '09:00-18:00',
      '22:00-06:00 Asia/Kolkata',
      '  09:00-18:00   UTC ',
      '09:00-18:00 US/Eastern',
      '09:00-09:00',
      '24:00-01:00',
      '09:60-10:00',
      '9:00-18:00',
      '09:00-18:00 Mars/Olympus',
      '09:00-18:00 utc',
      '09:00-18:00 UTC extra',
      '09:00 - 18:00',
      '',
    )
    const num = pick(0, 1, -5, 2.5, 1000, 1_000_000, 1_000_001, '10', null, true)
    const field = pick('amount', '', ' ', ' amount', 'a\u0000', 3)
    const condition = fc.oneof(
      fc.record({ identity_kind: pick('user', 'agent', 'service', 'scheduler', 'external', 'robot', '', 1) }),
      fc.record({ identity_role: pick('admin', '', 1) }),
      fc.record({ identity_id: pick('u-1', '', null) }),
      fc.record({ action: patternArb }),
      fc.record({ resource: patternArb }),
      fc.record({ param_max: fc.record({ field, max: num }, { requiredKeys: [] }) }),
      fc.record({ param_min: fc.record({ field, min: num }, { requiredKeys: [] }) }),
      fc.record({ param_in: fc.record({ field, values: pick(['a'], ['a', 'b'], [], ['a', 1], 'a') }, { requiredKeys: [] }) }),
      fc.record({ rate_limit: fc.record({ max: num, window: duration }, { requiredKeys: [] }) }),
      fc.record({ session_age_max: duration }),
      fc.record({ time_window: windowArb }),
      // Two keys in one condition, an unknown key, a non-object.
      fc.record({ action: patternArb, resource: patternArb }),
      fc.record({ actions: pick('refund') }),
      pick('action', null, []),
    )
    const policy = fc.record(
      {
        name: pick('a', 'b', '', 1),
        effect: pick('permit', 'refuse', 'allow'),
        conditions: fc.oneof(fc.array(condition, { maxLength: 3 }), pick('action')),
        description: pick('why', 1),
        priority: pick(0, 1, -3, 2.5, 2 ** 53 - 1, 2 ** 53 + 2, 2 ** 62, -(2 ** 63), 2 ** 63, 1e300, '1'),
        prioirty: pick(1),
      },
      { requiredKeys: [] },
    )
    const policies = fc.oneof({ weight: 9, arbitrary: fc.array(policy, { maxLength: 3 }) }, { weight: 1, arbitrary: pick({}, 'x') })
    const set = fc.oneof(
      fc.record({ policies }),
      fc.record({ policy: policies }),
      fc.record({ policies, policy: policies }),
      pick({}, { rules: [] }, [], 'x'),
    )
    let valid = 0
    fc.assert(
      fc.property(set, (s) => {
        const { zod, native } = judge(s)
        expect({ set: s, native, zod }).toEqual({ set: s, native, zod: native === true })
        if (zod) valid++
      }),
      { numRuns: 3000 },
    )
    // Valid sets are generated too (not only rejections).
    expect(valid).toBeGreaterThan(100)
  })

  test("on time zones: the loader's own list, not ICU's (other casings, aliases, names IANA has dropped or added)", () => {
    const window = (zone: string) => ({ policies: [{ name: 'p', effect: 'permit', conditions: [{ time_window: `09:00-18:00 ${zone}` }] }] })
    // ICU takes these (it folds case and keeps old names); the loader (chrono-tz) does not.
    const refused = ['asia/kolkata', 'est', 'cet', 'uct', 'universal', 'greenwich', 'etc/zulu', 'europe/uzhgorod', 'america/nipigon', 'Canada/East-Saskatchewan', 'US/Pacific-New', 'SystemV/AST4']
    for (const zone of refused) expect([zone, judge(window(zone))]).toEqual([zone, { zod: false, native: expect.stringContaining(`unknown IANA time zone '${zone}'`) }])
    for (const zone of ['Asia/Kolkata', 'Asia/Calcutta', 'EST', 'CET', 'UCT', 'Universal', 'Greenwich', 'Etc/Zulu', 'Europe/Uzhgorod', 'America/Nipigon']) {
      expect([zone, judge(window(zone))]).toEqual([zone, { zod: true, native: true }])
    }
    // Every zone ICU lists, as written and in upper and lower case: the same answer.
    for (const zone of Intl.supportedValuesOf('timeZone')) {
      for (const spelling of [zone, zone.toLowerCase(), zone.toUpperCase()]) {
        const { zod, native } = judge(window(spelling))
        expect([spelling, zod]).toEqual([spelling, native === true])
      }
    }
  })

  test('on policy names that differ only in Unicode normalisation (NFC and NFD): duplicates for both', () => {
    const set = { policies: [{ name: 'p\u00f6', effect: 'permit', conditions: [] }, { name: 'po\u0308', effect: 'refuse', conditions: [] }] }
    expect(judge(set)).toEqual({ zod: false, native: "policy 'p\u00f6': duplicate policy name (policies #0 and #1)" })
    const issues = PolicySetSchema.safeParse(set).error!.issues
    expect(JSON.stringify(issues)).toContain(`"message":"duplicate policy name 'po\u0308'","path":["policies",1,"name"]`)
  })

  test('definePolicies returns the set unchanged, and the gate loads it', () => {
    const set = { policies: [{ name: 'small', effect: 'permit' as const, conditions: [{ param_max: { field: 'amount', max: 100 } }] }] }
    expect(definePolicies(set)).toBe(set)
    expect(Gate.fromObject(definePolicies(set)).policyCount).toBe(1)
  })
})
