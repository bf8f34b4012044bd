// Drop-in parity with the earlier SDKs: behaviours and error wordings that existing code
// relies on (rate_limit max 0, session_age_max without a session, empty JSON documents,
// PublicKeyDirectory.isEmpty, token inputs with `signature: null`, legacy message prefixes).

import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { describe, expect, test } from 'vitest'

import {
  AuditEntry,
  DirectoryTokenVerifier,
  Gate,
  InMemoryInvalidationBroadcaster,
  KavachKeyPair,
  PqTokenSigner,
  PublicKeyBundle,
  PublicKeyDirectory,
  SignedAuditChain,
} from '../index'
import { signingSetup, TOKEN } from './fixtures/pq-keys'

const CTX = { principalId: 'u', principalKind: 'user', actionName: 'pay' } as const

function errorOf(f: () => unknown): { code?: string; message: string; name: string } {
  try {
    f()
  } catch (e) {
    return e as { code?: string; message: string; name: string }
  }
  throw new Error('expected a throw')
}

describe('policy language parity', () => {
  test('rate_limit max 0 loads and refuses from the first call with RATE_LIMIT_EXCEEDED', async () => {
    const gate = Gate.fromObject({ policies: [{ name: 'off', effect: 'permit', conditions: [{ action: 'pay' }, { rate_limit: { max: 0, window: '1h' } }] }] })
    for (let i = 0; i < 3; i++) {
      const v = gate.evaluate(CTX)
      expect(v.isPermit).toBe(false)
      expect(v.code).toBe('RATE_LIMIT_EXCEEDED')
      expect(v.reason).toMatch(/rate limit of 0 per 1h exceeded/)
    }
    expect((await gate.evaluateAsync(CTX)).code).toBe('RATE_LIMIT_EXCEEDED')
    const toml = Gate.fromToml('[[policy]]\nname = "off"\neffect = "permit"\nconditions = [{ rate_limit = { max = 0, window = "1m" } }]\n')
    expect(toml.evaluate(CTX).code).toBe('RATE_LIMIT_EXCEEDED')
    for (const max of [-1, 0.5]) {
      const err = errorOf(() => Gate.fromObject({ policies: [{ name: 'x', effect: 'permit', conditions: [{ rate_limit: { max, window: '1h' } }] }] }))
      expect(err.code).toBe('POLICY_PARSE')
      expect(err.message).toMatch(/key 'max' must be an integer from 0/)
    }
  })

  test('session_age_max without sessionStartedAt or sessionId holds: a fresh session of age 0', () => {
    const gate = Gate.fromObject({ policies: [{ name: 'young', effect: 'permit', conditions: [{ session_age_max: '1h' }] }] })
    expect(gate.evaluate(CTX).isPermit).toBe(true)
    // An explicit old start still refuses; a session id's first sight is its start.
    expect(gate.evaluate({ ...CTX, sessionStartedAt: Math.floor(Date.now() / 1000) - 7200 }).isPermit).toBe(false)
    expect(gate.evaluate({ ...CTX, sessionId: 's-1' }).isPermit).toBe(true)
  })

  test('an empty JSON document is a PolicyParseError, not the kill switch; empty TOML stays the kill switch', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kavach-empty-'))
    const blank = join(dir, 'blank.json')
    writeFileSync(blank, ' \n\t\n')
    const empty = join(dir, 'empty.json')
    writeFileSync(empty, '')
    for (const f of [() => Gate.fromJsonString(''), () => Gate.fromJsonString('   '), () => Gate.fromJsonFile(blank), () => Gate.fromJsonFile(empty)]) {
      const err = errorOf(f)
      expect(err.name).toBe('PolicyParseError')
      expect(err.code).toBe('POLICY_PARSE')
      expect(err.message).toMatch(/empty JSON document/)
    }
    // A truncated deploy keeps the old set on reload.
    const gate = Gate.fromJsonString(JSON.stringify({ policies: [{ name: 'p', effect: 'permit', conditions: [] }] }))
    expect(errorOf(() => gate.reloadJson('')).code).toBe('POLICY_PARSE')
    expect(gate.evaluate(CTX).isPermit).toBe(true)
    expect(Gate.fromToml('').evaluate(CTX).code).toBe('NO_POLICY_MATCH')
    expect(Gate.fromJsonString('{}').evaluate(CTX).code).toBe('NO_POLICY_MATCH')
    expect(Gate.fromJsonString('{"policies":[]}').evaluate(CTX).code).toBe('NO_POLICY_MATCH')
  })
})

describe('API parity', () => {
  test('PublicKeyDirectory.isEmpty beside length', () => {
    const dir = PublicKeyDirectory.inMemory()
    expect(dir.isEmpty).toBe(true)
    expect(dir.length).toBe(0)
    const kp = KavachKeyPair.generate()
    dir.insert(kp.publicKeys())
    expect(dir.isEmpty).toBe(false)
    expect(dir.length).toBe(1)
    dir.remove(kp.id)
    expect(dir.isEmpty).toBe(true)
  })

  test('token inputs accept signature: null or no signature; sign and verify ignore the field', () => {
    const { hybrid: signer, hybridVerifier } = signingSetup()
    const withNull = { ...TOKEN, signature: null }
    const sig = signer.sign(withNull)
    signer.verify(TOKEN, sig)
    signer.verify(withNull, sig)
    // A stale signature on the token is ignored: the argument is what is verified.
    signer.verify({ ...TOKEN, signature: Buffer.from('not a signature') }, sig)
    expect(errorOf(() => signer.verify({ ...TOKEN, signature: sig }, Buffer.from('{}'))).code).not.toBe(undefined)
    hybridVerifier.verify(withNull, sig)
  })
})

describe('error wording parity', () => {
  test('a verification refused for an expired key says "keypair expired" and names the key', () => {
    const kp = KavachKeyPair.generate()
    const sig = PqTokenSigner.fromKeypairHybrid(kp).sign(TOKEN)
    const dir = PublicKeyDirectory.inMemory([PublicKeyBundle.fromRecord({ ...kp.publicKeys().toRecord(), expiresAt: Date.now() / 1000 - 10 })])
    const err = errorOf(() => new DirectoryTokenVerifier(dir).verify(TOKEN, sig))
    expect(err.code).toBe('KEY_EXPIRED')
    expect(err.message).toMatch(new RegExp(`keypair expired: key '${kp.id}' expired at \\d{4}-\\d\\d-\\d\\dT[0-9:.]+Z`))
  })

  test('publish with an unknown kind says "targetKind must be one of session, principal, role (got ...)"', () => {
    const b = new InMemoryInvalidationBroadcaster()
    const err = errorOf(() => b.publish('tenant' as 'role', 't-1', 'why'))
    expect(err.code).toBe('INVALID_ARGUMENT')
    expect(err.message).toContain("targetKind must be one of session, principal, role (got 'tenant')")
  })

  test('verifyJsonl on altered payload bytes says "entry <n>: signature verification failed"', () => {
    const kp = KavachKeyPair.generate()
    const chain = new SignedAuditChain(kp)
    chain.append(AuditEntry.new('alice', 'pay', 'permit', 'first'))
    chain.append(AuditEntry.new('bob', 'pay', 'refuse', 'second'))
    const blob = chain.exportJsonl().toString('utf8')
    expect(SignedAuditChain.verifyJsonl(blob, kp.publicKeys())).toBe(2)
    // Entry 1's signed payload bytes (a JSON byte array) with 'bob' changed to 'bot'.
    const lines = blob.trimEnd().split('\n')
    const e = JSON.parse(lines[1]!) as { signed_payload: { data: number[] } }
    const at = Buffer.from(e.signed_payload.data).toString('latin1').indexOf('"bob"') + 3
    expect(at).toBeGreaterThan(3)
    e.signed_payload.data[at] = 't'.charCodeAt(0)
    lines[1] = JSON.stringify(e)
    const altered = `${lines.join('\n')}\n`
    const err = errorOf(() => SignedAuditChain.verifyJsonl(altered, kp.publicKeys()))
    expect(err.code).toBe('CHAIN_INVALID')
    expect(err.message).toMatch(/entry 1: signature verification failed/)
  })
})
