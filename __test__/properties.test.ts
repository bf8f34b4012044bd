// Property tests (fast-check): invariants that must hold for every input of a shape, not only
// for the examples the other files pick. Run counts are explicit (`RUNS`); a failure prints
// the seed and the shrunk counterexample.

import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import fc from 'fast-check'
import { stringify } from 'smol-toml'
import { describe, expect, test } from 'vitest'

import {
  AuditEntry,
  Gate,
  KavachKeyPair,
  PqTokenSigner,
  PublicKeyDirectory,
  SecureChannel,
  SignedAuditChain,
  type EvaluateOptions,
  type GateOptions,
  type PolicySetInput,
  type Verdict,
} from '../index'

const RUNS = { contexts: 300, reuse: 200, loaders: 150, syncAsync: 100, bytes: 300 }

// --- arbitraries: well-typed contexts and policy sets over small shared vocabularies, so that
// random policies and random contexts actually meet ---

const KINDS = ['user', 'agent', 'service', 'scheduler', 'external'] as const
const IDS = ['u1', 'u2', 'agent-7', 'svc']
const ROLES = ['support', 'ops', 'admin']
const ACTIONS = ['read', 'refund', 'refund.issue', 'delete_user']
const FIELDS = ['amount', 'count', 'region']
const WORDS = ['eu', 'us', 'gold', 'x']

const word = fc.stringMatching(/^[a-z][a-z0-9_]{0,11}$/)
const finite = fc.oneof(fc.integer({ min: -1_000_000, max: 1_000_000 }), fc.double({ min: -1e6, max: 1e6, noNaN: true, noDefaultInfinity: true }))

const contextArb: fc.Arbitrary<EvaluateOptions> = fc.record(
  {
    principalId: fc.oneof(fc.constantFrom(...IDS), word),
    principalKind: fc.constantFrom(...KINDS),
    actionName: fc.oneof(fc.constantFrom(...ACTIONS), word),
    roles: fc.uniqueArray(fc.constantFrom(...ROLES), { maxLength: 3 }),
    params: fc.dictionary(fc.constantFrom(...FIELDS), fc.oneof(finite, fc.constantFrom(...WORDS)), { maxKeys: 3 }),
    resource: fc.oneof(fc.constantFrom('orders/1', 'orders/2', 'users'), word),
    sessionId: word,
    ip: fc.ipV4(),
  },
  { requiredKeys: ['principalId', 'principalKind', 'actionName'] },
)

const pattern = fc.oneof(fc.constantFrom(...ACTIONS), fc.constantFrom('refund*', 'refund.*', '*', 'orders/*'))
const conditionArb = fc.oneof(
  fc.record({ identity_kind: fc.constantFrom(...KINDS) }),
  fc.record({ identity_role: fc.constantFrom(...ROLES) }),
  fc.record({ identity_id: fc.constantFrom(...IDS) }),
  fc.record({ action: pattern }),
  fc.record({ resource: pattern }),
  fc.record({ param_max: fc.record({ field: fc.constantFrom(...FIELDS), max: finite }) }),
  fc.record({ param_min: fc.record({ field: fc.constantFrom(...FIELDS), min: finite }) }),
  fc.record({ param_in: fc.record({ field: fc.constantFrom(...FIELDS), values: fc.uniqueArray(fc.constantFrom(...WORDS), { minLength: 1 }) }) }),
)

const policySetArb = fc
  .array(
    fc.record(
      {
        effect: fc.constantFrom('permit', 'refuse'),
        conditions: fc.array(conditionArb, { maxLength: 3 }),
        priority: fc.integer({ min: 0, max: 200 }),
        description: word,
      },
      { requiredKeys: ['effect', 'conditions'] },
    ),
    { maxLength: 6 },
  )
  .map((list) => ({ policies: list.map((p, i) => ({ name: `p${i}`, ...p })) }) as PolicySetInput)

/** The fields that make two verdicts the same decision. */
function decision(v: Verdict): unknown {
  return { kind: v.kind, code: v.code, evaluator: v.evaluator, reason: v.reason }
}

/** Stateless gates: no drift, a pinned clock (no rate limits or windows are generated). */
const STATELESS: GateOptions = { enableDrift: false, testClock: { nowMs: Date.UTC(2026, 0, 15, 12) } }

describe('contexts', () => {
  test(`any well-typed context never throws and never permits under an empty set (${RUNS.contexts} runs)`, async () => {
    const gates = [Gate.fromObject({}), Gate.fromObject({ policies: [] }), Gate.fromToml('')]
    await fc.assert(
      fc.asyncProperty(contextArb, async (ctx) => {
        for (const gate of gates) {
          expect(gate.evaluate(ctx).isPermit).toBe(false)
          expect((await gate.evaluateAsync(ctx)).isPermit).toBe(false)
        }
      }),
      { numRuns: RUNS.contexts },
    )
  })
})

describe('one gate, many contexts', () => {
  // The synchronous path refills one context and one text buffer per gate from call to call
  // (crates/kavach-node/src/fast.rs `Reuse`): no field, role, param or extra of one call may
  // reach the next. A long-lived gate must decide every context as a fresh gate does. No
  // sessions here: session state is meant to carry over.
  const withoutSession = contextArb.map(({ sessionId: _, ...ctx }) => ctx)

  test(`a gate decides each of a sequence of contexts as a fresh gate would (${RUNS.reuse} runs)`, () => {
    fc.assert(
      fc.property(policySetArb, fc.array(withoutSession, { minLength: 2, maxLength: 8 }), (set, contexts) => {
        const longLived = Gate.fromObject(set, STATELESS)
        for (const ctx of contexts) {
          expect(decision(longLived.evaluate(ctx))).toEqual(decision(Gate.fromObject(set, STATELESS).evaluate(ctx)))
        }
      }),
      { numRuns: RUNS.reuse },
    )
  })

  test('a huge context, then small ones: each decided on its own', () => {
    const gate = Gate.fromObject(
      { policies: [{ name: 'eu_refunds', effect: 'permit', conditions: [{ action: 'refund' }, { param_in: { field: 'region', values: ['eu'] } }, { resource: 'orders/*' }] }] },
      STATELESS,
    )
    const base = { principalId: 'u1', principalKind: 'user', actionName: 'refund' } as const
    expect(gate.evaluate({ ...base, params: { region: 'x'.repeat(60_000) }, resource: 'orders/1' }).code).toBe('NO_POLICY_MATCH')
    expect(gate.evaluate({ ...base, params: { region: 'eu' }, resource: 'orders/1' }).kind).toBe('permit')
    expect(gate.evaluate({ ...base, params: { region: 'eu' } }).code).toBe('NO_POLICY_MATCH')
    expect(gate.evaluate({ ...base, params: { region: 7 }, resource: 'orders/1' }).code).toBe('NO_POLICY_MATCH')
    expect(gate.evaluate({ ...base, params: {}, resource: 'orders/1' }).code).toBe('NO_POLICY_MATCH')
    expect(gate.evaluate({ ...base, params: { region: 'eu' }, resource: 'orders/2' }).kind).toBe('permit')
  })
})

describe('loaders', () => {
  test(`object, JSON and TOML loaders agree on random policy sets (${RUNS.loaders} runs)`, () => {
    fc.assert(
      fc.property(policySetArb, fc.array(contextArb, { minLength: 1, maxLength: 6 }), (set, contexts) => {
        const policies = (set as { policies: unknown[] }).policies
        const gates = [
          Gate.fromObject(set, STATELESS),
          Gate.fromJsonString(JSON.stringify(set), STATELESS),
          Gate.fromToml(stringify({ policy: policies }), STATELESS),
        ]
        for (const ctx of contexts) {
          const [fromObject, ...others] = gates.map((g) => decision(g.evaluate(ctx)))
          for (const other of others) expect(other).toEqual(fromObject)
        }
      }),
      { numRuns: RUNS.loaders },
    )
  })
})

describe('sync and async', () => {
  // The audited gate is not answered inline: evaluateAsync goes through the native pipeline.
  const auditKey = KavachKeyPair.generate()

  test(`evaluate and evaluateAsync give the same decision, inline and through the pipeline (${RUNS.syncAsync} runs)`, async () => {
    await fc.assert(
      fc.asyncProperty(policySetArb, fc.array(contextArb, { minLength: 1, maxLength: 4 }), async (set, contexts) => {
        const inline = Gate.fromObject(set, STATELESS)
        const piped = Gate.fromObject(set, { ...STATELESS, audit: new SignedAuditChain(auditKey) })
        for (const ctx of contexts) {
          const sync = decision(inline.evaluate(ctx))
          expect(decision(await inline.evaluateAsync(ctx))).toEqual(sync)
          expect(decision(await piped.evaluateAsync(ctx))).toEqual(sync)
          expect(decision(piped.evaluate(ctx))).toEqual(sync)
        }
        await piped.close()
      }),
      { numRuns: RUNS.syncAsync },
    )
  })
})

describe('single-byte changes are rejected', () => {
  /** `bytes` with the byte at `at` changed (xor with a non-zero `delta`). */
  const flip = (bytes: Buffer, at: number, delta: number): Buffer => {
    const out = Buffer.from(bytes)
    out[at] = out[at]! ^ delta
    return out
  }
  const delta = fc.integer({ min: 1, max: 255 })

  test(`token envelope (${RUNS.bytes} runs)`, () => {
    const signer = PqTokenSigner.generateHybrid()
    const token = {
      tokenId: '11111111-1111-4111-8111-111111111111',
      evaluationId: '22222222-2222-4222-8222-222222222222',
      issuedAt: 1_767_225_600,
      expiresAt: 4_000_000_000,
      actionName: 'refund',
    }
    const envelope = signer.sign(token)
    expect(() => signer.verify(token, envelope)).not.toThrow()
    fc.assert(
      fc.property(fc.nat(envelope.length - 1), delta, (at, d) => {
        expect(() => signer.verify(token, flip(envelope, at, d))).toThrow()
      }),
      { numRuns: RUNS.bytes },
    )
  })

  test(`audit line (${RUNS.bytes} runs)`, () => {
    const kp = KavachKeyPair.generate()
    const chain = new SignedAuditChain(kp)
    for (let i = 0; i < 3; i++) chain.append(AuditEntry.new(`agent-${i}`, 'refund', 'permit', `token_id=t${i}`))
    const jsonl = chain.exportJsonl()
    const bundle = kp.publicKeys()
    expect(SignedAuditChain.verifyJsonl(jsonl, bundle)).toBe(3)
    // Any byte of any line, the line breaks between entries included (not the final one).
    fc.assert(
      fc.property(fc.nat(jsonl.length - 2), delta, (at, d) => {
        expect(() => SignedAuditChain.verifyJsonl(flip(jsonl, at, d), bundle)).toThrow()
      }),
      { numRuns: RUNS.bytes },
    )
  })

  test(`signed directory manifest (${RUNS.bytes} runs)`, () => {
    const root = KavachKeyPair.generate()
    const manifest = root.buildSignedManifest([KavachKeyPair.generate().publicKeys(), KavachKeyPair.generate().publicKeys()])
    const rootKey = root.publicKeys().mlDsaVerifyingKey
    const path = join(mkdtempSync(join(tmpdir(), 'kavach-prop-')), 'manifest.json')
    writeFileSync(path, manifest)
    expect(PublicKeyDirectory.fromSignedFile(path, rootKey).length).toBe(2)
    fc.assert(
      fc.property(fc.nat(manifest.length - 1), delta, (at, d) => {
        writeFileSync(path, flip(manifest, at, d))
        expect(() => PublicKeyDirectory.fromSignedFile(path, rootKey)).toThrow()
      }),
      { numRuns: RUNS.bytes },
    )
  })

  test(`secure channel message (${RUNS.bytes} runs)`, () => {
    const alice = KavachKeyPair.generate()
    const bob = KavachKeyPair.generate()
    const send = new SecureChannel(alice, bob.publicKeys())
    const receive = new SecureChannel(bob, alice.publicKeys())
    let n = 0
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.nat(), delta, (data, position, d) => {
        const message = send.sendSigned(Buffer.from(data), 'ctx', `corr-${n++}`)
        const at = position % message.length
        expect(() => receive.receiveSigned(flip(message, at, d), 'ctx')).toThrow()
        // The unchanged message is accepted (the change, not the channel, is what was refused).
        expect(receive.receiveSigned(message, 'ctx').equals(Buffer.from(data))).toBe(true)
      }),
      { numRuns: RUNS.bytes },
    )
  })
})
