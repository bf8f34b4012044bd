// No false positives: gate.analyze() over every policy set of the examples and the tests that
// can be loaded (policy files, TOML sets written out, inline `policies: [...]` literals). The
// only findings allowed are the true ones listed in EXPECTED, each with the reason it is true;
// a finding not listed fails, and so does a listed one that no longer appears.
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { join, relative } from 'node:path'

import { describe, expect, test } from 'vitest'

import { Gate } from '../index'
import { inlinePolicySets, tomlSetsIn } from './fixtures/policy-corpus'

const root = join(__dirname, '..')

/**
 * `file kind policies…` of every true finding, and why it is true. analyze.test.ts is not in
 * the corpus: its sets are built to have findings and assert each one exactly.
 */
const EXPECTED: Record<string, string> = {
  '__test__/define-policies.types.ts overlap night small-refunds':
    "a refuse at night and a permit for small refunds both match a small refund at night (the refusal, first, decides): info, true",
  '__test__/parity.test.ts unsatisfiable off': 'rate_limit max 0 never lets a call through; the parity test checks that every SDK refuses it',
  '__test__/policy-language.test.ts shadowed second_tie first_tie':
    "'first_tie' (refuse) has the same conditions and priority and comes first in the file: the test checks that file order breaks ties",
  '__test__/policy-language.test.ts overlap block_delete allow_all': "the catch-all permit also matches the refused action; the refusal comes first",
  '__test__/policy-language.test.ts overlap first_tie allow_all': "the catch-all permit also matches the refused action; the refusal comes first",
  '__test__/policy-language.test.ts deny_list allow_all block_delete first_tie': 'a permit for every action with refusals by name: a deny list, as the warning says',
  '__test__/policy-load-memory.test.ts shadowed b no_b':
    "the refusal of 'b' comes first in the file and decides: the test checks that a set read in pieces keeps declaration order",
  '__test__/hostile-input.test.ts overlap no-delete all': 'the catch-all permit also matches the refused action; the refusal comes first',
  '__test__/integrations-openai-agents.test.ts overlap no_big_refunds support_refunds':
    'a refusal of large refunds ahead of the refund permit: what the test checks the parsed amount against',
  '__test__/fixtures/openai-agents-cjs.ts overlap no_big_refunds support_refunds':
    'the same policy set, in the CommonJS child process of that test',
  '__test__/integrations-openai-agents.test.ts refuse_skips_strings no_big_refunds':
    "the refusal bounds 'amount' with param_min, which a string passes: the test is about that, the guard judging the coerced number rather than the JSON text",
  '__test__/fixtures/openai-agents-cjs.ts refuse_skips_strings no_big_refunds':
    'the same policy set, in the CommonJS child process of that test',
  '__test__/integrations-unreadable-params.test.ts overlap no_bulk support_http_refunds':
    'a refusal of bulk quantities ahead of the refund permits: the test needs a refuse policy that reads a param',
  '__test__/integrations-unreadable-params.test.ts overlap no_bulk support_tool_refunds': 'the same refusal, ahead of the tool refund permit',
  '__test__/integrations-unreadable-params.test.ts refuse_skips_strings no_bulk':
    "the refusal bounds 'qty' with param_min, which a string passes; the test is about values of other kinds, which refuse",
  '__test__/guarded.test.ts overlap no_big_refunds agent_refunds':
    'a refusal of large refunds ahead of the refund permit: the test checks that a misspelt option cannot skip it',
  '__test__/guarded.test.ts refuse_skips_strings no_big_refunds':
    "the refusal bounds 'amount' with param_min, which a string passes; the guarded function sends the amount as a number",
  '__test__/hostile-input.test.ts deny_list all no-delete':
    'the test shows the deny list this warning is about: look-alike action names get past the refusal by name',
}

interface Corpus {
  file: string
  where: string
  load: () => Gate
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const path = join(dir, d.name)
    if (d.isDirectory()) return d.name === 'node_modules' || d.name === 'results' ? [] : sourceFiles(path)
    return [path]
  })
}

function corpus(): Corpus[] {
  const out: Corpus[] = []
  const files = [...sourceFiles(join(root, 'examples')), ...sourceFiles(join(root, '__test__'))]
  for (const path of files) {
    const file = relative(root, path)
    if (file === '__test__/analyze.test.ts' || file === '__test__/analyze-corpus.test.ts') continue
    if (/\.(toml|json)$/.test(file) && file.startsWith('examples/') && !file.includes('.cases.')) {
      out.push({ file, where: file, load: () => Gate.fromFile(path) })
      continue
    }
    if (!/\.tsx?$/.test(file)) continue
    const text = readFileSync(path, 'utf8')
    for (const toml of tomlSetsIn(text)) out.push({ file, where: `${file} (TOML)`, load: () => Gate.fromToml(toml) })
    for (const { line, set } of inlinePolicySets(text)) out.push({ file, where: `${file}:${line}`, load: () => Gate.fromObject(set as never) })
  }
  return out
}

describe('gate.analyze on every policy set of the examples and tests', () => {
  test('finds only the true findings listed', () => {
    const seen = new Map<string, string>()
    let analyzed = 0
    for (const c of corpus()) {
      let gate: Gate
      try {
        gate = c.load()
      } catch {
        continue // a set the tests write to be refused by the loader
      }
      analyzed++
      for (const f of gate.analyze()) seen.set(`${c.file} ${f.kind} ${f.policies.join(' ')}`, `${c.where}: ${f.message}`)
    }
    // The corpus is real: the example files and dozens of test sets load.
    expect(analyzed).toBeGreaterThanOrEqual(40)
    const unexpected = [...seen].filter(([key]) => !(key in EXPECTED)).map(([, where]) => where)
    expect(unexpected).toEqual([])
    // Each listed finding still appears (while its file exists), so the list stays true.
    const listed = Object.keys(EXPECTED).filter((key) => existsSync(join(root, key.split(' ')[0]!)))
    expect(listed.filter((key) => !seen.has(key))).toEqual([])
  })
})
