// Gate handles and submission ids as the internal binding takes them (crates/kavach-node/src/
// exact_u32.rs): only a whole number 0..2^32-1. napi's own u32 conversion wraps, so a handle
// of 2^32 + h would have been answered by the gate whose handle is h.

import { expect, test } from 'vitest'

import { FAST_IN_ACTION_LEN, FAST_IN_ID_LEN, FAST_IN_KIND, FAST_IN_PARAM_COUNT, FAST_IN_ROLE_COUNT, FAST_IN_SCRATCH_LEN, FAST_IN_TEXT_LEN } from '../src/generated/layout'
import { NativeGate, evaluateFast, evaluateSubmit, flushSubmitted, internName } from '../src/native'

function codeOf(run: () => unknown): string {
  try {
    run()
  } catch (e) {
    const err = e as { code?: string; message: string }
    return `${err.code}: ${err.message}`
  }
  return 'returned'
}

test('a handle or id that is not a whole number in range is refused, never wrapped onto another gate', () => {
  const permitting = NativeGate.fromObject({ policies: [{ name: 'p', effect: 'permit', conditions: [{ action: 'a' }] }] })
  const scratch = new Float64Array(FAST_IN_SCRATCH_LEN)
  const handle = permitting.attachScratch(scratch)
  permitting.attachCompletion(() => {})
  // principalId 'u' (kind 0), action 'a', as text; no roles or params.
  const encode = (): void => {
    scratch[FAST_IN_KIND] = 0
    scratch[FAST_IN_ID_LEN] = 1
    scratch[FAST_IN_ACTION_LEN] = 1
    scratch[FAST_IN_ROLE_COUNT] = 0
    scratch[FAST_IN_PARAM_COUNT] = 0
    scratch[FAST_IN_TEXT_LEN] = 2
  }
  encode()
  expect(typeof evaluateFast(handle, 'ua')).toBe('string')
  for (const bad of [handle + 2 ** 32, handle - 2 ** 32, -1, handle + 0.5, Number.NaN]) {
    encode()
    expect(codeOf(() => evaluateFast(bad, 'ua'))).toBe(`INVALID_ARGUMENT: evaluateFast: handle: expected a whole number from 0 to 4294967295, got ${bad}`)
    expect(codeOf(() => internName(bad, 'x'))).toBe(`InvalidArg: expected a whole number from 0 to 4294967295, got ${bad}`)
    expect(codeOf(() => flushSubmitted(bad))).toBe(`InvalidArg: expected a whole number from 0 to 4294967295, got ${bad}`)
    encode()
    expect(codeOf(() => evaluateSubmit(handle, bad, 'ua'))).toBe(`InvalidArg: expected a whole number from 0 to 4294967295, got ${bad}`)
  }
})
