import { describe, expect, test } from 'vitest'

import {
  Gate,
  InvalidArgumentError,
  Invalidated,
  KavachError,
  KavachInvalidated,
  KavachRefused,
  PolicyParseError,
  Refused,
  errorClassFor,
  errorCodes,
  toKavachError,
} from '../index'

describe('the code table', () => {
  test('every code maps to a KavachError subclass carrying that code and its name', () => {
    const codes = errorCodes()
    expect(codes).toEqual(expect.arrayContaining(['POLICY_PARSE', 'INVALID_ARGUMENT', 'INVALID_OPTIONS', 'SIGNATURE_INVALID', 'KEY_NOT_FOUND', 'KEY_EXPIRED', 'REPLAY', 'STORE_UNAVAILABLE']))
    for (const code of codes) {
      const cls = errorClassFor(code)!
      const err = new cls('boom')
      expect(err).toBeInstanceOf(KavachError)
      expect(err).toBeInstanceOf(Error)
      expect(err.code).toBe(code)
      expect(err.name).toBe(cls.name)
      expect(err.name).toMatch(/Error$/)
      expect(err.message).toBe('boom')
    }
  })

  test('a native error becomes the typed subclass with the original as cause', () => {
    let caught: unknown
    try {
      Gate.fromToml('[[policy]]\nname = "x"\neffect = "allow"\nconditions = []\n')
    } catch (e) {
      caught = e
    }
    expect(caught).toBeInstanceOf(PolicyParseError)
    const err = caught as PolicyParseError
    expect(err.code).toBe('POLICY_PARSE')
    expect(err.message).toMatch(/policy 'x'.*effect/)
    expect(err.cause).toBeInstanceOf(Error)
    expect((err.cause as Error & { code: string }).code).toBe('POLICY_PARSE')
  })

  test('napi type conversion failures are INVALID_ARGUMENT', () => {
    const gate = Gate.fromObject({})
    expect(() => gate.evaluate({ principalId: 5, principalKind: 'user', actionName: 'a' } as never)).toThrow(InvalidArgumentError)
  })

  test('toKavachError leaves unrelated values alone', () => {
    const plain = new Error('x')
    expect(toKavachError(plain)).toBe(plain)
    expect(toKavachError('text')).toBe('text')
    const unknownCode = Object.assign(new Error('y'), { code: 'ENOENT' })
    expect(toKavachError(unknownCode)).toBe(unknownCode)
  })
})

describe('Refused and Invalidated', () => {
  test('messages and fields', () => {
    const r = new Refused('POLICY_DENIED', 'policy', "policy 'no_deletes' refuses 'delete'")
    expect(r.message).toBe("[POLICY_DENIED] policy: policy 'no_deletes' refuses 'delete'")
    expect([r.code, r.evaluator, r.reason]).toEqual(['POLICY_DENIED', 'policy', "policy 'no_deletes' refuses 'delete'"])
    const i = new Invalidated('drift', 'ip changed', { targetKind: 'session', targetId: 's1', reason: 'ip changed', evaluator: 'drift' })
    expect(i.message).toBe('session invalidated by drift: ip changed')
    expect(i.scope?.targetId).toBe('s1')
  })

  test('the earlier Node names are the same classes', () => {
    expect(KavachRefused).toBe(Refused)
    expect(KavachInvalidated).toBe(Invalidated)
  })

  test('check() throws Refused carrying the verdict', () => {
    const gate = Gate.fromObject({ policies: [{ name: 'no_deletes', effect: 'refuse', conditions: [{ action: 'delete' }] }] })
    try {
      gate.check({ principalId: 'u', principalKind: 'user', actionName: 'delete' })
      expect.unreachable()
    } catch (e) {
      expect(e).toBeInstanceOf(KavachRefused)
      const r = e as Refused
      expect(r.code).toBe('POLICY_DENIED')
      expect(r.evaluator).toBe('policy')
      expect(r.reason).toContain('no_deletes')
      expect(r.verdict?.isRefuse).toBe(true)
      expect(r).not.toBeInstanceOf(KavachError)
    }
  })
})
