// The name rules exist twice: in the Rust core (crates/kavach-core/src/policy/identifier.rs,
// with kavach-text's invisible characters), which decides, and in src/names.ts, which the zod
// policy schema uses. This walks every Unicode code point (surrogates aside) inside a name and
// asserts both accept and refuse the same ones, so an editor validating against the schema
// never accepts a name the gate refuses, nor the reverse.

import { expect, test } from 'vitest'

import { Gate } from '../index'
import { isValidName } from '../src/names'

test('every code point inside a name: the schema and the gate agree', () => {
  const gate = Gate.fromObject({ policies: [{ name: 'all', effect: 'permit', conditions: [] }] })
  const disagree: string[] = []
  for (let cp = 0; cp <= 0x10ffff; cp++) {
    if (cp >= 0xd800 && cp <= 0xdfff) continue
    // Between two ASCII letters: inner whitespace is allowed, and a letter of another script
    // than Latin is a mix (refused by both).
    const name = `x${String.fromCodePoint(cp)}x`
    const v = gate.evaluate({ principalId: 'p', principalKind: 'user', actionName: name })
    const gateAccepts = v.code !== 'INVALID_CONTEXT'
    if (gateAccepts !== isValidName(name) && disagree.length < 20) {
      disagree.push(`U+${cp.toString(16).toUpperCase().padStart(4, '0')}: gate ${gateAccepts ? 'accepts' : `refuses (${v.reason})`}, schema ${isValidName(name) ? 'accepts' : 'refuses'}`)
    }
  }
  expect(disagree).toEqual([])
}, 60_000)
