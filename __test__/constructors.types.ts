// Compile-time checks, run by `tsc --noEmit` (tsconfig includes __test__): the classes whose
// instances only their factories make have private constructors, so `new` does not compile
// (at run time it throws InvalidArgumentError naming the factories: argument-errors.test.ts).
// Each `@ts-expect-error` fails the type check if the line below it ever compiles. Never run.
import { AuditEntry, Checkpoint, Gate, KavachKeyPair, PqTokenSigner, PublicKeyBundle, PublicKeyDirectory, RedisInvalidationBroadcaster, RedisRateLimitStore, RedisSessionStore } from '../index'

export function neverCalled(): unknown[] {
  return [
    // @ts-expect-error: constructor of class 'Gate' is private
    new Gate(),
    // @ts-expect-error: private constructor
    new KavachKeyPair(),
    // @ts-expect-error: private constructor
    new PqTokenSigner(),
    // @ts-expect-error: private constructor
    new PublicKeyBundle(),
    // @ts-expect-error: private constructor
    new PublicKeyDirectory(),
    // @ts-expect-error: private constructor
    new AuditEntry(),
    // @ts-expect-error: private constructor
    new Checkpoint(),
    // @ts-expect-error: private constructor
    new RedisRateLimitStore(),
    // @ts-expect-error: private constructor
    new RedisSessionStore(),
    // @ts-expect-error: private constructor
    new RedisInvalidationBroadcaster(),
    // The factories compile.
    KavachKeyPair.generate(),
  ]
}
