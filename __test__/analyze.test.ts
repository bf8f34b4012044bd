// gate.analyze() (Rust core analysis) and `kavach lint` on the built binary: each finding kind
// on a set made to have it, and no findings on the examples' and tests' policy sets.
import { readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

import { beforeAll, describe, expect, test } from 'vitest'

import { Gate, type PolicyFinding, type PolicySetInput } from '../index'
import { ensureBuilt, kavach, tempDir } from './fixtures/cli'

type P = { name: string; effect: 'permit' | 'refuse'; priority?: number; conditions: unknown[] }
const analyze = (policies: P[], knownActions?: string[]): PolicyFinding[] =>
  Gate.fromObject({ policies } as PolicySetInput).analyze(knownActions === undefined ? undefined : { knownActions })
const kinds = (f: PolicyFinding[]) => f.map((x) => [x.kind, ...x.policies])

beforeAll(ensureBuilt, 120_000)

describe('gate.analyze', () => {
  test('a policy shadowed by an earlier one whose conditions hold whenever its own do', () => {
    const f = analyze([
      { name: 'refunds', effect: 'permit', conditions: [{ action: 'refund.*' }, { param_max: { field: 'amount', max: 1000 } }] },
      { name: 'small_refunds', effect: 'permit', conditions: [{ identity_kind: 'agent' }, { action: 'refund.issue' }, { param_max: { field: 'amount', max: 100 } }] },
    ])
    expect(kinds(f)).toEqual([['shadowed', 'small_refunds', 'refunds']])
    expect(f[0]!.message).toContain("'refunds' (permit, evaluated first")
  })

  test('an earlier rate-limited policy does not shadow (it may not fire)', () => {
    const f = analyze([
      { name: 'limited', effect: 'permit', conditions: [{ action: 'read' }, { rate_limit: { max: 5, window: '1m' } }] },
      { name: 'fallback', effect: 'refuse', conditions: [{ action: 'read' }] },
    ])
    // Both can match a call to 'read' (the refusal once the limit is reached): an overlap only.
    expect(kinds(f)).toEqual([['overlap', 'limited', 'fallback']])
  })

  test('a refuse policy that never fires', () => {
    const f = analyze([
      { name: 'all_reads', effect: 'permit', conditions: [{ action: 'read*' }] },
      { name: 'no_secret_reads', effect: 'refuse', conditions: [{ action: 'read.secrets' }] },
    ])
    expect(kinds(f)).toEqual([['refuse_never_fires', 'no_secret_reads', 'all_reads']])
  })

  test('param_min above param_max, windows that never open, contradictory conditions', () => {
    const f = analyze([
      { name: 'range', effect: 'permit', conditions: [{ param_min: { field: 'amount', min: 500 } }, { param_max: { field: 'amount', max: 100 } }] },
      { name: 'night_and_day', effect: 'permit', conditions: [{ time_window: '09:00-12:00' }, { time_window: '13:00-17:00' }] },
      { name: 'two_kinds', effect: 'permit', conditions: [{ identity_kind: 'user' }, { identity_kind: 'agent' }] },
    ])
    expect(kinds(f)).toEqual([
      ['param_min_above_max', 'range'],
      ['time_window_never_opens', 'night_and_day'],
      ['unsatisfiable', 'two_kinds'],
    ])
    expect(f[0]!.message).toBe("policy 'range' can never match: param_min 500 is above param_max 100 on 'amount'")
    // Zones are honoured: 09:00-18:00 Kolkata is 03:30-12:30 UTC, which meets 12:00-13:00 UTC.
    expect(analyze([{ name: 'z', effect: 'permit', conditions: [{ time_window: '09:00-18:00 Asia/Kolkata' }, { time_window: '12:00-13:00' }] }])).toEqual([])
  })

  test('a rate limit that never binds', () => {
    const f = analyze([{ name: 'r', effect: 'permit', conditions: [{ action: 'a' }, { rate_limit: { max: 10, window: '24h' } }, { rate_limit: { max: 100, window: '1h' } }] }])
    expect(kinds(f)).toEqual([['rate_limit_never_binds', 'r']])
    expect(f[0]!.message).toContain('rate limit 100 per 1h never binds: its rate limit 10 per 24h')
  })

  test('permit/refuse overlaps are info; disjoint actions are not reported', () => {
    const f = analyze([
      { name: 'no_big_refunds', effect: 'refuse', priority: 10, conditions: [{ action: 'refund' }, { param_min: { field: 'amount', min: 5000 } }] },
      { name: 'agent_refunds', effect: 'permit', conditions: [{ identity_kind: 'agent' }, { action: 'refund' }] },
      { name: 'reports', effect: 'permit', conditions: [{ action: 'report.*' }] },
    ])
    expect(kinds(f)).toEqual([['overlap', 'no_big_refunds', 'agent_refunds'], ['refuse_skips_strings', 'no_big_refunds']])
    expect(f[0]!.severity).toBe('info')
  })

  test('patterns that look like globs or regular expressions: a warning in a refuse policy, info in a permit', () => {
    const policies: P[] = [
      { name: 'no_deletes', effect: 'refuse', priority: 10, conditions: [{ action: 'delete_{user,org}' }] },
      { name: 'files', effect: 'permit', conditions: [{ action: 'read|write' }, { resource: 'file?*' }] },
      { name: 'everything', effect: 'permit', conditions: [{ action: 'admin.*' }] },
    ]
    const f = analyze(policies).filter((x) => x.kind === 'literal_pattern_character')
    expect(f.map((x) => [x.severity, ...x.policies])).toEqual([['warning', 'no_deletes'], ['info', 'files'], ['info', 'files']])
    expect(f[0]!.message).toBe(
      "policy 'no_deletes' (refuse): action 'delete_{user,org}' contains '{', which patterns take literally (only a trailing '*' is a wildcard): it matches the name 'delete_{user,org}' itself, not the names it seems to list; write one policy per name, or a prefix ending in '*'",
    )
    expect(f[2]!.message).toContain("resource 'file?*' contains '?'")
    // What it warns of: the refusal refuses only the literal name.
    const gate = Gate.fromObject({ policies: [...policies, { name: 'deletes', effect: 'permit', conditions: [{ action: 'delete_*' }] }] } as PolicySetInput)
    const call = (actionName: string) => gate.evaluate({ principalId: 'bot', principalKind: 'agent', actionName })
    expect(call('delete_user').isPermit).toBe(true)
    expect(call('delete_{user,org}').isRefuse).toBe(true)
  })

  test('a refuse policy bounding a param by number is info: a string passes it, unless an invariant caps the param', () => {
    const policies: P[] = [
      { name: 'no_big_refunds', effect: 'refuse', priority: 10, conditions: [{ action: 'refund' }, { param_min: { field: 'amount', min: 5000 } }, { param_max: { field: 'amount', max: 1e9 } }] },
      { name: 'refunds', effect: 'permit', conditions: [{ action: 'refund' }] },
    ]
    const f = analyze(policies).filter((x) => x.kind !== 'overlap')
    // One finding per param, however many bounds it has.
    expect(kinds(f)).toEqual([['refuse_skips_strings', 'no_big_refunds']])
    expect(f[0]!.severity).toBe('info')
    expect(f[0]!.message).toBe(
      "refuse policy 'no_big_refunds' bounds 'amount' with param_min, which holds only for a number: 'amount' sent as a string (\"5000\", as forms and query strings send it) is not refused by it; an invariant on 'amount' refuses a string there",
    )
    // What it warns of, and the remedy it names.
    const call = (amount: number | string) => ({ principalId: 'bot', principalKind: 'agent' as const, actionName: 'refund', params: { amount } })
    const plain = Gate.fromObject({ policies } as PolicySetInput)
    expect(plain.evaluate(call(9000)).isRefuse).toBe(true)
    expect(plain.evaluate(call('9000')).isPermit).toBe(true)
    const capped = Gate.fromObject({ policies } as PolicySetInput, { invariants: [{ name: 'amount_cap', field: 'amount', maxValue: 1e9 }] })
    expect(capped.evaluate(call('9000')).code).toBe('INVARIANT_VIOLATION')
    expect(capped.analyze().filter((x) => x.kind === 'refuse_skips_strings')).toEqual([])
  })

  test('deny lists: refuse by name + permit *', () => {
    const f = analyze([
      { name: 'no_deletes', effect: 'refuse', priority: 1, conditions: [{ action: 'delete_user' }] },
      { name: 'everything_else', effect: 'permit', conditions: [{ action: '*' }] },
    ])
    expect(kinds(f)).toContainEqual(['deny_list', 'everything_else', 'no_deletes'])
    expect(f.find((x) => x.kind === 'deny_list')!.message).toContain('look-alikes')
  })

  test('a rate limit after a condition that can fail counts fewer calls: it can bind', () => {
    // The 100/1h limit also counts the calls of amount > 10 that the 10/24h limit never sees.
    const free = analyze([{ name: 'r', effect: 'permit', conditions: [{ action: 'a' }, { rate_limit: { max: 100, window: '1h' } }, { param_max: { field: 'amount', max: 10 } }, { rate_limit: { max: 10, window: '24h' } }] }])
    expect(free).toEqual([])
    const bound = analyze([{ name: 'r', effect: 'permit', conditions: [{ action: 'a' }, { rate_limit: { max: 10, window: '24h' } }, { param_max: { field: 'amount', max: 10 } }, { rate_limit: { max: 100, window: '1h' } }] }])
    expect(kinds(bound)).toEqual([['rate_limit_never_binds', 'r']])
  })

  test('a refusal for other principals than a catch-all permit covers is no deny list', () => {
    const f = analyze([
      { name: 'agents_never_delete', effect: 'refuse', priority: 1, conditions: [{ identity_kind: 'agent' }, { action: 'delete_user' }] },
      { name: 'users_do_anything', effect: 'permit', conditions: [{ identity_kind: 'user' }] },
    ])
    expect(f).toEqual([])
    const g = analyze([
      { name: 'nobody_deletes', effect: 'refuse', priority: 1, conditions: [{ action: 'delete_user' }] },
      { name: 'users_do_anything', effect: 'permit', conditions: [{ identity_kind: 'user' }] },
    ])
    expect(kinds(g)).toContainEqual(['deny_list', 'users_do_anything', 'nobody_deletes'])
  })

  test('time windows are compared over the whole year of a zone', () => {
    // Casablanca is UTC+1 except during Ramadan (UTC+0 in February-March 2026): only then do
    // 12:00-12:30 there and 12:00-12:30 UTC meet.
    const f = analyze([{ name: 'ramadan_noon', effect: 'permit', conditions: [{ time_window: '12:00-12:30 Africa/Casablanca' }, { time_window: '12:00-12:30' }] }])
    expect(f).toEqual([])
  })

  test('known actions no policy names', () => {
    const f = analyze([{ name: 'reads', effect: 'permit', conditions: [{ action: 'read.*' }] }], ['read.one', 'write.one'])
    expect(kinds(f)).toEqual([['unmentioned_action']])
    expect(f[0]!.message).toContain("'write.one'")
  })

  test('a known action is held to the name rules, by its index, before any copy of a long one', () => {
    const reads = [{ name: 'reads', effect: 'permit' as const, conditions: [{ action: 'read.*' }] }]
    // A megabyte element is refused from its length: the error says so, not a name rule.
    expect(() => analyze(reads, ['read.one', 'x'.repeat(1 << 20)])).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('element 1 of the array is 1048576 bytes long, over the limit of 256 bytes') }),
    )
    // A control character never reaches a finding's message (or the terminal, via kavach lint).
    expect(() => analyze(reads, ['read.one', 'a\u001b[2Jb'])).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('knownActions[1]') }),
    )
  })
})

describe('no false positives', () => {
  test('the examples have no warnings', () => {
    const dir = join(__dirname, '../examples/policies')
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.toml') && !f.includes('.cases.'))) {
      const findings = Gate.fromFile(join(dir, file)).analyze()
      expect(findings, file).toEqual([])
    }
  })
})

describe('kavach lint', () => {
  test('the example: no findings, exit 0', () => {
    const r = kavach(['lint', 'examples/policies/support.toml'])
    expect(r.status, r.stderr).toBe(0)
    expect(r.stdout).toBe('4 policies, 0 warning(s), 0 info\n')
  })

  test('findings: human and --json, exit 1; --actions', () => {
    const dir = tempDir('lint')
    const file = join(dir, 'deny.toml')
    writeFileSync(file, ['[[policy]]', 'name = "no_deletes"', 'effect = "refuse"', 'priority = 1', 'conditions = [{ action = "delete_user" }]', '', '[[policy]]', 'name = "everything_else"', 'effect = "permit"', 'conditions = [{ action = "*" }]', ''].join('\n'))
    const r = kavach(['lint', file, '--actions', 'delete_user,export_all'])
    expect(r.status).toBe(1)
    expect(r.stdout).toContain("warning deny_list: deny list: 'everything_else' permits every action")
    expect(r.stdout).toContain("info    unmentioned_action: action 'export_all' is named by no policy")
    const j = kavach(['lint', file, '--json'])
    expect(j.status).toBe(1)
    const out = JSON.parse(j.stdout) as { policies: number; warnings: number; findings: PolicyFinding[] }
    expect(out.policies).toBe(2)
    expect(out.warnings).toBe(1)
    expect(out.findings.map((x) => x.kind)).toContain('deny_list')
  })
})
