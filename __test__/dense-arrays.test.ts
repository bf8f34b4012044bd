// Arrays handed to the native side (key bundles, audit entries, known actions, invariants;
// crates/kavach-node/src/dense_array.rs) are read one own element at a time: a sparse array that
// claims 2^32 - 1 elements is an error naming its first hole (napi's own conversion would reserve
// the whole length and abort the process), a hole is never answered by `Array.prototype`, and an
// element of the wrong kind is named by its index. Nothing is appended or built on an error.

import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, test } from 'vitest'

import { AuditEntry, Gate, InvalidArgumentError, KavachKeyPair, PublicKeyDirectory, SignedAuditChain, type PublicKeyBundle } from '../index'
import { NativeGate } from '../src/native'
import { caught } from './fixtures/outcomes'

const dir = mkdtempSync(join(tmpdir(), 'kavach-instance-arrays-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const root = KavachKeyPair.generate()
const first = KavachKeyPair.generate().publicKeys()
const second = KavachKeyPair.generate().publicKeys()

/** An array whose `length` claims 2^32 - 1 elements and which holds none. */
function hugeSparse<T>(): T[] {
  return Object.assign([] as T[], { length: 2 ** 32 - 1 })
}

/** `[a, <hole>, b]`. */
function withHole<T>(a: T, b: T): T[] {
  const arr = [a, b, b]
  delete arr[1]
  return arr
}

function expectElementError(run: () => unknown, message: RegExp): void {
  const e = caught(run)
  expect(e).toBeInstanceOf(InvalidArgumentError)
  expect(e).toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(message) })
}

const entry = (i: number): AuditEntry => AuditEntry.new(`agent-${i}`, 'issue_refund', 'permit', `token_id=t${i}`)

describe('arrays of public key bundles', () => {
  const builders: Record<string, (bundles: PublicKeyBundle[]) => unknown> = {
    'PublicKeyDirectory.inMemory': (b) => PublicKeyDirectory.inMemory(b),
    'PublicKeyDirectory.buildUnsignedManifest': (b) => PublicKeyDirectory.buildUnsignedManifest(b),
    'KavachKeyPair.buildSignedManifest': (b) => root.buildSignedManifest(b),
  }

  for (const [name, build] of Object.entries(builders)) {
    test(`${name}: a dense array works; a sparse array of length 2^32 - 1, a hole and a wrong element are errors naming the index`, () => {
      expect(build([first, second])).toBeDefined()
      expectElementError(() => build(hugeSparse()), /^element 0 of the array is a hole: arrays must be dense$/)
      expectElementError(() => build(withHole(first, second)), /^element 1 of the array is a hole/)
      expectElementError(() => build([first, {} as PublicKeyBundle]), /^element 1 of the array is not an instance of PublicKeyBundle$/)
      // Another native class is not taken for a bundle.
      expectElementError(() => build([first, entry(0) as unknown as PublicKeyBundle]), /^element 1 of the array is not an instance of PublicKeyBundle$/)
    })
  }

  test('a hole is not answered by Array.prototype', () => {
    const proto = Array.prototype as unknown as Record<number, unknown>
    proto[1] = second
    try {
      expectElementError(() => PublicKeyDirectory.inMemory(withHole(first, first)), /^element 1 of the array is a hole/)
    } finally {
      delete proto[1]
    }
  })

  test('the directory holds exactly the bundles given', () => {
    const directory = PublicKeyDirectory.inMemory([first, second])
    expect(directory.keyIds.sort()).toEqual([first.id, second.id].sort())
    expect(PublicKeyDirectory.inMemory().keyIds).toEqual([])
  })
})

describe('SignedAuditChain.appendBatch', () => {
  test('a sparse, holed or mistyped batch appends nothing and names the element; a dense one appends all', () => {
    const chain = SignedAuditChain.openFile(join(dir, 'batch.jsonl'), root)
    expect(chain.appendBatch([entry(0), entry(1)])).toBe(2)
    expectElementError(() => chain.appendBatch(hugeSparse()), /^element 0 of the array is a hole: arrays must be dense$/)
    expectElementError(() => chain.appendBatch(withHole(entry(2), entry(3))), /^element 1 of the array is a hole/)
    expectElementError(() => chain.appendBatch([entry(2), first as unknown as AuditEntry]), /^element 1 of the array is not an instance of AuditEntry$/)
    expect(chain.length).toBe(2)
    expect(chain.verify(root.publicKeys())).toBe(2)
    chain.close()
  })
})

describe('arrays inside option objects', () => {
  const policies = { policies: [{ name: 'reads', effect: 'permit' as const, conditions: [{ action: 'read' }] }] }

  test('gate.analyze knownActions: sparse, holed or non-string elements are errors naming the field; strings work', () => {
    const gate = Gate.fromObject(policies)
    expect(gate.analyze({ knownActions: ['read', 'write'] }).map((f) => f.kind)).toEqual(['unmentioned_action'])
    expectElementError(() => gate.analyze({ knownActions: hugeSparse() }), /^element 0 of the array is a hole: arrays must be dense on AnalyzeOptions\.knownActions$/)
    expectElementError(() => gate.analyze({ knownActions: withHole('read', 'write') }), /^element 1 of the array is a hole/)
    expectElementError(() => gate.analyze({ knownActions: ['read', 7 as unknown as string] }), /^element 1 of the array is not a string on AnalyzeOptions\.knownActions$/)
  })

  test('the native gate options: invariants as a sparse array are an error, not an abort', () => {
    // The public factories check options first (src/options.ts); the native one must not abort either.
    const e = caught(() => NativeGate.fromObject(policies, { invariants: hugeSparse() }))
    expect(e.message).toMatch(/^element 0 of the array is a hole: arrays must be dense on GateOptions\.invariants$/)
    const gate = NativeGate.fromObject(policies, { invariants: [['cap', 'amount', 10]] })
    expect(gate.policyCount).toBe(1)
  })
})
