// A missing or non-object argument to a public method is an InvalidArgumentError
// (INVALID_ARGUMENT) naming the argument, never a bare TypeError (issue 18 E1, TS side).

import { describe, expect, test } from 'vitest'

import {
  DirectoryTokenVerifier,
  Gate,
  HttpKavachMiddleware,
  InvalidArgumentError,
  KavachKeyPair,
  McpKavachMiddleware,
  PqTokenSigner,
  PublicKeyBundle,
  PublicKeyDirectory,
  RedisSessionStore,
  SecureChannel,
  SignedAuditChain,
  canonicalPath,
  deriveActionName,
  guard,
  guardAgentTools,
  guardTools,
  guarded,
  judgedAs,
  runAs,
} from '../index'
import { REDIS_URL } from './fixtures/redis-helpers'
import { caught } from './fixtures/outcomes'

const gate = Gate.fromObject({ policies: [{ name: 'all', effect: 'permit', conditions: [] }] })
const TOKEN = { tokenId: '11111111-1111-4111-8111-111111111111', evaluationId: '22222222-2222-4222-8222-222222222222', issuedAt: 1_700_000_000, expiresAt: 4_000_000_000, actionName: 'read' }


function expectArgumentError(err: unknown, message: RegExp): void {
  expect(err).toBeInstanceOf(InvalidArgumentError)
  expect((err as InvalidArgumentError).code).toBe('INVALID_ARGUMENT')
  expect((err as Error).message).toMatch(message)
}

describe('missing arguments name the argument and carry a code', () => {
  test('evaluate / check / evaluateAsync / checkAsync with null, undefined or a number', async () => {
    for (const bad of [null, undefined, 42]) {
      expectArgumentError(caught(() => gate.evaluate(bad as never)), /context must be an object \{ principalId, principalKind, actionName, \.\.\. \}, got (null|undefined|number)/)
      expectArgumentError(caught(() => gate.check(bad as never)), /context must be an object/)
      expectArgumentError(await gate.evaluateAsync(bad as never).catch((e: unknown) => e), /context must be an object/)
      expectArgumentError(await gate.checkAsync(bad as never).catch((e: unknown) => e), /context must be an object/)
    }
  })

  test('lift(null) and lift(undefined)', () => {
    expectArgumentError(caught(() => gate.lift(null as never)), /lift scope must be an object \{ targetKind, targetId \}, got null/)
    expectArgumentError(caught(() => gate.lift(undefined as never)), /lift scope must be an object .*, got undefined/)
  })

  test('lift and revoke name the scope fields that are missing, with the call', async () => {
    expectArgumentError(caught(() => gate.lift({} as never)), /^gate\.lift: scope: missing field\(s\) 'targetKind', 'targetId'$/)
    expectArgumentError(caught(() => gate.lift({ targetId: 's' } as never)), /^gate\.lift: scope: missing field\(s\) 'targetKind'$/)
    expectArgumentError(await gate.revoke({ targetKind: 'session' } as never).catch((e: unknown) => e), /^gate\.revoke: scope: missing field\(s\) 'targetId'$/)
    // A revocation's own scope, with its reason and evaluator, is taken back as it is.
    const ctx = { principalId: 'argument-errors-p', principalKind: 'user', actionName: 'read' } as const
    const scope = { targetKind: 'principal', targetId: 'argument-errors-p', reason: 'test', evaluator: 'manual' } as const
    await gate.revoke(scope)
    expect(gate.evaluate(ctx).isRefuse).toBe(true)
    gate.lift(scope as never)
    expect(gate.evaluate(ctx).isPermit).toBe(true)
  })

  test('verify(null, sig) on the token signer and the directory verifier; sign(null)', () => {
    const signer = PqTokenSigner.generateHybrid()
    const sig = signer.sign(TOKEN)
    expectArgumentError(caught(() => signer.verify(null as never, sig)), /PqTokenSigner\.verify: token is required, got null/)
    expectArgumentError(caught(() => signer.verify(undefined as never, sig)), /PqTokenSigner\.verify: token is required, got undefined/)
    expectArgumentError(caught(() => signer.sign(null as never)), /PqTokenSigner\.sign: token is required, got null/)
    const verifier = new DirectoryTokenVerifier(PublicKeyDirectory.inMemory())
    expectArgumentError(caught(() => verifier.verify(null as never, sig)), /DirectoryTokenVerifier\.verify: token is required, got null/)
    // The well-formed call still verifies.
    expect(() => signer.verify(TOKEN, sig)).not.toThrow()
  })

  test('runAs(null) and runAs(undefined) give the same error and code, before the function runs', () => {
    let runs = 0
    const fn = guarded(gate, { action: 'read' }, () => ++runs)
    const a = caught(() => runAs(null as never, () => fn()))
    const b = caught(() => runAs(undefined as never, () => fn()))
    expectArgumentError(a, /runAs: caller must be an object \{ principalId, principalKind, \.\.\. \}, got null/)
    expectArgumentError(b, /runAs: caller must be an object .*, got undefined/)
    expect((a as InvalidArgumentError).code).toBe((b as InvalidArgumentError).code)
    expectArgumentError(caught(() => fn.as(null as never)), /\.as\(caller\): caller must be an object/)
    expect(runs).toBe(0)
  })
})

describe('constructors and static factories of the crypto and Redis classes throw typed errors', () => {
  test('new SignedAuditChain with no key pair, or a hybrid flag that is not a boolean', () => {
    expectArgumentError(caught(() => new SignedAuditChain(null as never)), /^SignedAuditChain constructor: kp is required \(a KavachKeyPair\), got null$/)
    for (const [bad, kind] of [[5, 'number'], [{}, 'object']] as const) {
      expectArgumentError(caught(() => new SignedAuditChain(bad as never)), new RegExp(`^SignedAuditChain constructor: kp must be a KavachKeyPair \\(got ${kind}\\)$`))
    }
    expectArgumentError(caught(() => new SignedAuditChain(KavachKeyPair.generate(), 'x' as never)), /^SignedAuditChain constructor: hybrid must be a boolean, or absent \(got string\)$/)
  })

  test('PublicKeyBundle.fromRecord(undefined | null) names the record', () => {
    expectArgumentError(caught(() => PublicKeyBundle.fromRecord(undefined as never)), /^PublicKeyBundle\.fromRecord: record is required, got undefined$/)
    expectArgumentError(caught(() => PublicKeyBundle.fromRecord(null as never)), /^PublicKeyBundle\.fromRecord: record is required, got null$/)
  })

  test('RedisSessionStore.connect(url) without its options names them', async () => {
    for (const bad of [undefined, null]) {
      const err = await RedisSessionStore.connect(REDIS_URL, bad as never).catch((e: unknown) => e)
      expectArgumentError(err, new RegExp(`^RedisSessionStore\\.connect: options \\{ ttlSeconds, \\.\\.\\. \\} is required, got ${String(bad)}$`))
    }
  })
})

describe('context fields of the wrong type name the field (napi conversion errors replaced)', () => {
  const ctx = { principalId: 'u', principalKind: 'user', actionName: 'read' }

  test('principalId: 42 and roles: "x", sync and async', async () => {
    const id = caught(() => gate.evaluate({ ...ctx, principalId: 42 } as never))
    expectArgumentError(id, /^principalId must be a string \(got number\)$/)
    const roles = caught(() => gate.evaluate({ ...ctx, roles: 'x' } as never))
    expectArgumentError(roles, /^roles must be an array of strings \(got string\)$/)
    expectArgumentError(await gate.evaluateAsync({ ...ctx, roles: 'x' } as never).catch((e: unknown) => e), /^roles must be an array of strings/)
    // The value of an object is never printed.
    const obj = caught(() => gate.evaluate({ ...ctx, principalId: { password: 'hunter2' } } as never))
    expectArgumentError(obj, /^principalId must be a string \(got object\)$/)
  })
})

describe('wrong argument types of the TypeScript entry points and constructors are named, not TypeErrors', () => {
  test('HTTP helpers and the HTTP middleware name the argument', async () => {
    expectArgumentError(caught(() => canonicalPath(5 as never)), /^canonicalPath: target must be a string \(got number\)$/)
    expectArgumentError(caught(() => deriveActionName(null as never, '/x')), /^deriveActionName: method must be a string \(got null\)$/)
    expectArgumentError(caught(() => judgedAs({ method: 'GET' } as never)), /^judgedAs: request\.path must be a string \(got undefined\)$/)
    expectArgumentError(caught(() => judgedAs(undefined as never)), /^judgedAs: request must be an object \(got undefined\)$/)
    const http = new HttpKavachMiddleware(gate)
    expectArgumentError(caught(() => http.shouldGate(['POST'] as never, '/x')), /^shouldGate: method must be a string \(got array\)$/)
    expectArgumentError(caught(() => http.evaluate({ method: 'POST', path: 7 } as never)), /request\.path must be a string \(got number\)$/)
    expectArgumentError(await http.evaluateAsync({ method: 'POST', path: '/x', route: 1 } as never).catch((e: unknown) => e), /request\.route must be a string \(got number\)$/)
    expectArgumentError(caught(() => new HttpKavachMiddleware({} as never)), /^HttpKavachMiddleware: gate must be a Gate \(got object\)$/)
    // null options are no options, as for the gate's own options.
    expect(new HttpKavachMiddleware(gate, null as never).shouldGate('GET', '/x')).toBe(false)
    expectArgumentError(caught(() => new McpKavachMiddleware('gate' as never)), /^McpKavachMiddleware: gate must be a Gate \(got string\)$/)
    expect(new McpKavachMiddleware(gate, null as never)).toBeInstanceOf(McpKavachMiddleware)
  })

  test('guarded, guard, runAs and the tool kits name the argument', () => {
    expectArgumentError(caught(() => guarded(gate, undefined as never, () => 1)), /^guarded: options must be an object \(got undefined\)$/)
    expectArgumentError(caught(() => guarded(gate, { action: 'a' }, 'f' as never)), /^guarded: fn must be a function \(got string\)$/)
    expectArgumentError(caught(() => guard(null as never, { action: 'a' })), /^guard: gate must be a Gate \(got null\)$/)
    expectArgumentError(caught(() => runAs({ principalId: 'a', principalKind: 'user' }, undefined as never)), /^runAs: fn must be a function \(got undefined\)$/)
    expectArgumentError(caught(() => guardTools(gate, undefined as never)), /^guardTools: tools must be a record of tools \(got undefined\)$/)
    expectArgumentError(caught(() => guardAgentTools(gate, {} as never)), /^guardAgentTools: tools must be an array of tools \(got object\)$/)
  })

  test('classes made by factories refuse `new`, naming the factories; so does Gate', () => {
    expectArgumentError(caught(() => new (KavachKeyPair as unknown as new () => unknown)()), /^KavachKeyPair has no public constructor: use KavachKeyPair\.generate/)
    expectArgumentError(caught(() => new (PublicKeyDirectory as unknown as new () => unknown)()), /^PublicKeyDirectory has no public constructor: use PublicKeyDirectory\.inMemory/)
    expectArgumentError(caught(() => new (RedisSessionStore as unknown as new () => unknown)()), /^RedisSessionStore has no public constructor: use RedisSessionStore\.connect$/)
    expectArgumentError(caught(() => new (Gate as unknown as new (p: unknown) => unknown)({ policies: [] })), /^Gate has no public constructor: use Gate\.fromObject/)
  })

  test('an object napi cannot describe (a BigInt inside, a cycle) where a string belongs is named', () => {
    const cyclic: Record<string, unknown> = {}
    cyclic.self = cyclic
    expectArgumentError(caught(() => Gate.fromToml({ a: 1n } as never)), /^Gate\.fromToml: toml must be a string \(got object\)$/)
    expectArgumentError(caught(() => gate.reloadJson(cyclic as never)), /^gate\.reloadJson: json must be a string \(got object\)$/)
    expectArgumentError(caught(() => PublicKeyDirectory.fromFile({ a: 1n } as never)), /^PublicKeyDirectory\.fromFile: path has the wrong type or cannot be read \(got object: Do not know how to serialize a BigInt\)$/)
    expectArgumentError(caught(() => KavachKeyPair.importSecret(Buffer.alloc(3), cyclic as never)), /^KavachKeyPair\.importSecret: passphrase must be a string \(got object\)$/)
    expectArgumentError(caught(() => gate.lift({ targetKind: cyclic, targetId: 's' } as never)), /^gate\.lift: scope has the wrong type or cannot be read/)
  })
})

describe("a type napi refuses is named with the call and the argument, never in napi's words", () => {
  // napi-rs says "Failed to convert JavaScript value `Object {…}` into rust type `String`",
  // quoting the whole value: the message named neither the call nor the argument, and grew with
  // the value. The parameters come from binding.d.ts (src/generated/native-signatures.ts).
  test('a string, a number, an array of bundles, a class instance', () => {
    const directory = PublicKeyDirectory.inMemory()
    expectArgumentError(caught(() => directory.fetch(5 as never)), /^PublicKeyDirectory\.fetch: keyId must be a string \(got number\)$/)
    expectArgumentError(caught(() => directory.remove({} as never)), /^PublicKeyDirectory\.remove: keyId must be a string \(got object\)$/)
    expectArgumentError(caught(() => KavachKeyPair.generateWithExpiry('3600' as never)), /^KavachKeyPair\.generateWithExpiry: seconds must be a number \(got string\)$/)
    expectArgumentError(caught(() => PublicKeyDirectory.inMemory(5 as never)), /^PublicKeyDirectory\.inMemory: bundles must be an array of PublicKeyBundle, or absent \(got number\)$/)
    // One wrong item: the array reader names it (__test__/dense-arrays.test.ts has the rest).
    const bundle = KavachKeyPair.generate().publicKeys()
    expectArgumentError(caught(() => PublicKeyDirectory.inMemory([bundle, 'k' as never])), /^element 1 of the array is not an instance of PublicKeyBundle$/)
    expectArgumentError(caught(() => directory.insert(bundle.toRecord() as never)), /^PublicKeyDirectory\.insert: bundle must be a PublicKeyBundle \(got object\)$/)
    expectArgumentError(caught(() => new DirectoryTokenVerifier({} as never)), /^DirectoryTokenVerifier constructor: directory must be a PublicKeyDirectory \(got object\)$/)
    expectArgumentError(caught(() => PqTokenSigner.fromKeypairHybrid(bundle as never)), /^PqTokenSigner\.fromKeypairHybrid: kp must be a KavachKeyPair \(got object\)$/)
  })

  test('a later argument is named when the earlier ones are right', () => {
    const kp = KavachKeyPair.generate()
    const chain = new SignedAuditChain(kp)
    expectArgumentError(caught(() => chain.verify('bundle' as never)), /^SignedAuditChain\.verify: bundle must be a PublicKeyBundle \(got string\)$/)
    expectArgumentError(caught(() => new SignedAuditChain(kp, 1 as never)), /^SignedAuditChain constructor: hybrid must be a boolean, or absent \(got number\)$/)
    const throwing = new Proxy({}, { getPrototypeOf: () => { throw new Error('no') } })
    expectArgumentError(caught(() => new SignedAuditChain(kp, throwing as never)), /^SignedAuditChain constructor: hybrid must be a boolean, or absent \(got object\)$/)
    expectArgumentError(caught(() => chain.verify(throwing as never)), /^SignedAuditChain\.verify: bundle must be a PublicKeyBundle \(got a value that throws when read\)$/)
  })

  test('a large object where a string belongs gives a short message and no cause quoting it', () => {
    const big = { secret: 'x'.repeat(1_000_000) }
    const err = caught(() => PublicKeyDirectory.fromFile(big as never))
    expectArgumentError(err, /^PublicKeyDirectory\.fromFile: path must be a string \(got object\)$/)
    expect((err as Error).cause).toBeUndefined()
  })

  test('a Redis store method', async () => {
    const store = await RedisSessionStore.connect(REDIS_URL, { ttlSeconds: 60 })
    try {
      expectArgumentError(caught(() => store.keyFor({ id: 's' } as never)), /^RedisSessionStore\.keyFor: sessionId must be a string \(got object\)$/)
      expectArgumentError(caught(() => (store.keyFor as () => string)()), /^RedisSessionStore\.keyFor: sessionId is required \(a string\), got undefined$/)
    } finally {
      store.close()
    }
  })
})

describe('a value that is not a Buffer where a Buffer belongs is named with the call and the argument', () => {
  // napi-rs says only "Failed to create reference from Buffer" (a string, a number) or "Failed
  // to get Buffer pointer and length" (an ArrayBuffer, a plain object), naming neither.
  const kp = KavachKeyPair.generate()
  const bob = KavachKeyPair.generate()
  const channel = new SecureChannel(kp, bob.publicKeys())
  const signer = PqTokenSigner.fromKeypairHybrid(kp)
  const verifier = new DirectoryTokenVerifier(PublicKeyDirectory.inMemory([kp.publicKeys()]))
  const signature = signer.sign(TOKEN)
  const calls: [string, (v: never) => unknown][] = [
    ['KavachKeyPair.importSecret: bytes', (v) => KavachKeyPair.importSecret(v)],
    ['SecureChannel.sendSigned: data', (v) => channel.sendSigned(v, 'ctx', 'corr')],
    ['SecureChannel.sendData: data', (v) => channel.sendData(v)],
    ['SecureChannel.receiveSigned: sealed', (v) => channel.receiveSigned(v, 'ctx')],
    ['SecureChannel.receiveData: sealed', (v) => channel.receiveData(v)],
    ['PqTokenSigner.verify: signature', (v) => signer.verify(TOKEN, v)],
    ['DirectoryTokenVerifier.verify: signature', (v) => verifier.verify(TOKEN, v)],
    ['PqTokenSigner.pqOnly: mlDsaVk', (v) => PqTokenSigner.pqOnly(Buffer.alloc(0), v, 'id')],
    ['PqTokenSigner.hybrid: edSk', (v) => PqTokenSigner.hybrid(Buffer.alloc(0), kp.publicKeys().mlDsaVerifyingKey, v, kp.publicKeys().ed25519VerifyingKey, 'id')],
    ['PublicKeyDirectory.fromSignedFile: rootMlDsaVerifyingKey', (v) => PublicKeyDirectory.fromSignedFile('/nonexistent/manifest.json', v)],
  ]
  const values: [unknown, string][] = [
    [signature.toString('latin1'), 'string'],
    [5, 'number'],
    [new ArrayBuffer(8), 'object'],
    [{ length: 1 }, 'object'],
  ]

  for (const [named, call] of calls) {
    test(named, () => {
      for (const [value, kind] of values) {
        const escaped = named.replace(/\./g, '\\.')
        expectArgumentError(caught(() => call(value as never)), new RegExp(`^${escaped} must be a Buffer \\(got ${kind}\\)$`))
      }
    })
  }

  test('a Uint8Array is accepted as a Buffer', () => {
    expect(() => signer.verify(TOKEN, new Uint8Array(signature) as Buffer)).not.toThrow()
  })
})
