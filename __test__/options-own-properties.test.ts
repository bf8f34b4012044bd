// The crypto and Redis classes read own properties only, as the gate does: a polluted
// Object.prototype (or an Object.create prototype) must never downgrade a channel or a chain,
// complete a token, raise a scrypt cap or move Redis keys. Their options are checked by the
// gate's mechanism (src/options.ts): an unknown name or a wrong JS type is an
// InvalidArgumentError naming it.

import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { afterAll, describe, expect, test } from 'vitest'

import {
  AlgorithmMismatchError,
  AuditEntry,
  DirectoryTokenVerifier,
  InvalidArgumentError,
  KavachKeyPair,
  PqTokenSigner,
  PublicKeyBundle,
  PublicKeyDirectory,
  RedisInvalidationBroadcaster,
  RedisRateLimitStore,
  RedisSessionStore,
  SecureChannel,
  SignedAuditChain,
} from '../index'
import { TOKEN } from './fixtures/pq-keys'
import { polluted, pollutedWith } from './fixtures/polluted'
import { REDIS_URL, uniquePrefix } from './fixtures/redis-helpers'
import { caught } from './fixtures/outcomes'

const alice = KavachKeyPair.generate()
const bob = KavachKeyPair.generate()
const dir = mkdtempSync(join(tmpdir(), 'kavach-options-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))


function expectArgumentError(err: unknown, message: string): void {
  expect(err).toBeInstanceOf(InvalidArgumentError)
  expect((err as InvalidArgumentError).code).toBe('INVALID_ARGUMENT')
  expect((err as Error).message).toBe(message)
}

describe('SecureChannel options: own properties only', () => {
  const pqOnlyMessage = (): Buffer => new SecureChannel(alice, bob.publicKeys(), { hybrid: false }).sendSigned(Buffer.from('pq only'), 'ctx', 'corr')

  test('an inherited hybrid: false and acceptV1: true do not make a receiver accept a PQ-only message', () => {
    const msg = pqOnlyMessage()
    const receiver = pollutedWith({ hybrid: false, acceptV1: true }, () => new SecureChannel(bob, alice.publicKeys(), { replayWindowSeconds: 60 }))
    const err = caught(() => receiver.receiveSigned(msg, 'ctx'))
    expect(err).toBeInstanceOf(AlgorithmMismatchError)
    expect((err as AlgorithmMismatchError).code).toBe('ALGORITHM_MISMATCH')
    // The same options given as own properties are honoured.
    const pqReceiver = new SecureChannel(bob, alice.publicKeys(), { hybrid: false, replayWindowSeconds: 60 })
    expect(pqReceiver.receiveSigned(msg, 'ctx').toString()).toBe('pq only')
  })

  test('an inherited hybrid: false does not make a sender PQ-only (a hybrid receiver accepts its message)', () => {
    const sender = polluted('hybrid', false, () => new SecureChannel(alice, bob.publicKeys(), {}))
    const fromProto = new SecureChannel(alice, bob.publicKeys(), Object.create({ hybrid: false }) as object)
    const receiver = new SecureChannel(bob, alice.publicKeys())
    expect(receiver.receiveSigned(sender.sendSigned(Buffer.from('one'), 'ctx', 'c1'), 'ctx').toString()).toBe('one')
    expect(receiver.receiveSigned(fromProto.sendSigned(Buffer.from('two'), 'ctx', 'c2'), 'ctx').toString()).toBe('two')
  })

  test('an unknown option, a wrong type or a non-object is an InvalidArgumentError naming it', () => {
    const make = (options: unknown) => () => new SecureChannel(alice, bob.publicKeys(), options as never)
    expectArgumentError(caught(make({ acceptv1: true })), "SecureChannel options: unknown option(s) 'acceptv1'")
    expectArgumentError(caught(make({ hybrid: 'no' })), "SecureChannel options: option 'hybrid': must be a boolean, got string")
    expectArgumentError(caught(make({ maxMessageBytes: '1' })), "SecureChannel options: option 'maxMessageBytes': must be a number, got string")
    expectArgumentError(caught(make(5)), 'SecureChannel options must be an object, got number')
    expectArgumentError(caught(make([])), 'SecureChannel options must be an object, got array')
  })
})

describe('audit options: own properties only', () => {
  test('an inherited hybrid: false does not open a new chain file PQ-only', () => {
    const chain = polluted('hybrid', false, () => SignedAuditChain.openFile(join(dir, 'polluted.jsonl'), alice, { syncEvery: 1 }))
    try {
      expect(chain.isHybrid).toBe(true)
    } finally {
      chain.close()
    }
  })

  test('an inherited hybrid: false does not make verifyJsonl demand a PQ-only chain', () => {
    const chain = new SignedAuditChain(alice)
    chain.append(AuditEntry.new('alice', 'read', 'permit', 'ok'))
    const blob = chain.exportJsonl()
    expect(polluted('hybrid', false, () => SignedAuditChain.verifyJsonl(blob, alice.publicKeys(), {}))).toBe(1)
  })

  test('an inherited resource or decidedBy is not signed into an entry', () => {
    const entry = pollutedWith({ resource: 'vault/*', decidedBy: 'admin' }, () => AuditEntry.new('alice', 'read', 'permit', 'ok', {}))
    expect(entry.resource).toBeNull()
    expect(entry.decidedBy).toBeNull()
    expect(entry.toJSON()).not.toContain('vault')
  })

  test('unknown options and wrong types are InvalidArgumentErrors naming them', () => {
    expectArgumentError(
      caught(() => SignedAuditChain.openFile(join(dir, 'typo.jsonl'), alice, { synceEvery: 1 } as never)),
      "SignedAuditChain.openFile options: unknown option(s) 'synceEvery'",
    )
    expectArgumentError(
      caught(() => SignedAuditChain.verifyJsonl('', alice.publicKeys(), { hybird: true } as never)),
      "SignedAuditChain.verifyJsonl options: unknown option(s) 'hybird'",
    )
    expectArgumentError(
      caught(() => SignedAuditChain.verifyJsonl('', alice.publicKeys(), { checkpoint: 'cp' } as never)),
      "SignedAuditChain.verifyJsonl options: option 'checkpoint': must be a Checkpoint instance, got string",
    )
    expectArgumentError(
      caught(() => AuditEntry.new('alice', 'read', 'permit', 'ok', { decided_by: 'x' } as never)),
      "AuditEntry.new options: unknown option(s) 'decided_by'",
    )
    expectArgumentError(
      caught(() => AuditEntry.new('alice', 'read', 'permit', 'ok', { ip: 10 } as never)),
      "AuditEntry.new options: option 'ip': must be a string, got number",
    )
    // The boolean form of verifyJsonl's options still works.
    expect(SignedAuditChain.verifyJsonl('', alice.publicKeys(), true)).toBe(0)
  })
})

describe('tokens, key records and import options: own properties only', () => {
  const signer = PqTokenSigner.fromKeypairHybrid(alice)
  const verifier = new DirectoryTokenVerifier(PublicKeyDirectory.inMemory([alice.publicKeys()]))
  const { actionName: _, ...withoutAction } = TOKEN

  test('an inherited actionName does not complete a token (sign, verify, directory verify)', () => {
    const sig = signer.sign(TOKEN)
    polluted('actionName', TOKEN.actionName, () => {
      const calls: Array<[string, () => unknown]> = [
        ['PqTokenSigner.sign', () => signer.sign(withoutAction as never)],
        ['PqTokenSigner.verify', () => signer.verify(withoutAction as never, sig)],
        ['DirectoryTokenVerifier.verify', () => verifier.verify(withoutAction as never, sig)],
      ]
      for (const [where, call] of calls) expectArgumentError(caught(call), `${where}: token: missing field(s) 'actionName'`)
    })
    // The complete token still verifies.
    signer.verify(TOKEN, sig)
    verifier.verify(TOKEN, sig)
  })

  test('a token field the signature does not cover is refused, not ignored', () => {
    const sig = signer.sign(TOKEN)
    expectArgumentError(caught(() => signer.verify({ ...TOKEN, amount: 100 } as never, sig)), "PqTokenSigner.verify: token: unknown field(s) 'amount'")
    expectArgumentError(caught(() => verifier.verify({ ...TOKEN, principalId: 'x' } as never, sig)), "DirectoryTokenVerifier.verify: token: unknown field(s) 'principalId'")
    expectArgumentError(caught(() => signer.sign({ ...TOKEN, issuedAt: '1' } as never)), "PqTokenSigner.sign: token: field 'issuedAt': must be a number, got string")
    expectArgumentError(caught(() => signer.sign(5 as never)), 'PqTokenSigner.sign: token must be an object, got number')
    // A verdict's permitToken (with signature and observeOnly) and the earlier SDK's signature: null pass.
    signer.verify({ ...TOKEN, signature: sig, observeOnly: false }, sig)
    signer.verify({ ...TOKEN, signature: null }, sig)
  })

  test('an inherited expiresAt does not expire a key record', () => {
    const record = alice.publicKeys().toRecord()
    expect(Object.hasOwn(record, 'expiresAt')).toBe(false)
    const bundle = polluted('expiresAt', 1, () => PublicKeyBundle.fromRecord(record))
    expect(bundle.expiresAt).toBeNull()
    expect(bundle.isExpired).toBe(false)
    expectArgumentError(caught(() => PublicKeyBundle.fromRecord({ ...record, label: 'x' } as never)), "PublicKeyBundle.fromRecord: record: unknown field(s) 'label'")
    expectArgumentError(
      caught(() => PublicKeyBundle.fromRecord({ ...record, x25519PublicKey: 'AAAA' } as never)),
      "PublicKeyBundle.fromRecord: record: field 'x25519PublicKey': must be a Buffer, got string",
    )
    // Missing fields are named together, with the call (a field set to undefined is missing).
    const { id: _id, createdAt: _created, ...partial } = record
    expectArgumentError(caught(() => PublicKeyBundle.fromRecord(partial as never)), "PublicKeyBundle.fromRecord: record: missing field(s) 'id', 'createdAt'")
    expectArgumentError(caught(() => PublicKeyBundle.fromRecord({ ...record, id: undefined } as never)), "PublicKeyBundle.fromRecord: record: missing field(s) 'id'")
  })

  test('an inherited maxScryptLogN is not read (importSecret and importSecretAsync)', async () => {
    const secret = alice.exportSecret()
    // 99 is out of range: read, it would be refused naming maxScryptLogN.
    expect(polluted('maxScryptLogN', 99, () => KavachKeyPair.importSecret(secret, null, {})).id).toBe(alice.id)
    expect((await polluted('maxScryptLogN', 99, () => KavachKeyPair.importSecretAsync(secret, null, {}))).id).toBe(alice.id)
    expectArgumentError(caught(() => KavachKeyPair.importSecret(secret, null, { maxScryptLogn: 20 } as never)), "KavachKeyPair.importSecret options: unknown option(s) 'maxScryptLogn'")
    await expect(KavachKeyPair.importSecretAsync(secret, null, { maxScryptR: '8' } as never)).rejects.toThrow(
      "KavachKeyPair.importSecret options: option 'maxScryptR': must be a number, got string",
    )
  })
})

describe('Redis options: own properties only', () => {
  const prefix = uniquePrefix('own-props')

  test('an inherited prefix does not move any store\'s keys', async () => {
    const channel = `${prefix}-channel`
    const [rate, sessions, broadcaster] = await polluted('prefix', 'polluted', () =>
      Promise.all([
        RedisRateLimitStore.connect(REDIS_URL, { connectTimeoutMs: 2_000 }),
        RedisSessionStore.connect(REDIS_URL, { ttlSeconds: 60 }),
        RedisInvalidationBroadcaster.connect(REDIS_URL, { channel }),
      ]),
    )
    try {
      expect(rate.keyFor('k')).toBe('kavach:rl:{k}')
      expect(sessions.keyFor('s')).toBe('kavach:sess:{s}')
      expect(broadcaster.revocationsKey).toBe(`kavach:revocations:{${channel}}`)
    } finally {
      rate.close()
      sessions.close()
      broadcaster.close()
    }
  })

  test('an inherited ttlSeconds does not stand in for the required one', async () => {
    await polluted('ttlSeconds', 60, async () => {
      await expect(RedisSessionStore.connect(REDIS_URL, {} as never)).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
        message: "RedisSessionStore.connect options: missing option(s) 'ttlSeconds'",
      })
    })
  })

  test('unknown options and wrong types are InvalidArgumentErrors naming them, before connecting', async () => {
    const cases: Array<[() => Promise<unknown>, string]> = [
      [() => RedisRateLimitStore.connect(REDIS_URL, { prefx: prefix } as never), "RedisRateLimitStore.connect options: unknown option(s) 'prefx'"],
      [() => RedisSessionStore.connect(REDIS_URL, { ttl: 60 } as never), "RedisSessionStore.connect options: unknown option(s) 'ttl'"],
      [() => RedisSessionStore.connect(REDIS_URL, { ttlSeconds: '60' } as never), "RedisSessionStore.connect options: option 'ttlSeconds': must be a number, got string"],
      [
        () => RedisInvalidationBroadcaster.connect(REDIS_URL, { revocationTtl: 60 } as never),
        "RedisInvalidationBroadcaster.connect options: unknown option(s) 'revocationTtl'",
      ],
      [() => RedisInvalidationBroadcaster.connect(REDIS_URL, { cluster: 'yes' } as never), "RedisInvalidationBroadcaster.connect options: option 'cluster': must be a boolean, got string"],
      [() => RedisRateLimitStore.connect(REDIS_URL, 5 as never), 'RedisRateLimitStore.connect options must be an object, got number'],
    ]
    for (const [connect, message] of cases) {
      // A store that connects anyway is closed (and fails the assertion).
      const err = await connect().then(
        (store) => {
          ;(store as { close(): void }).close()
          return store
        },
        (e: unknown) => e,
      )
      expectArgumentError(err, message)
    }
  })
})
