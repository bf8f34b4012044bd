// `kavach keygen --out DIR`: a new identity. Writes `<id>.secret` (the secret export, encrypted
// when a passphrase variable is named; mode 0600) and `<id>.public.json` (its public bundle).

import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

import { KavachKeyPair } from '../pq.js'
import { EXIT_OK } from './exit.js'
import { durationSeconds, passphraseFrom } from './secrets.js'

interface KeygenOptions {
  out: string
  passphraseEnv?: string
  expiresIn?: string
  json?: boolean
}

export function run(opts: KeygenOptions): number {
  const passphrase = passphraseFrom(opts.passphraseEnv)
  const kp = opts.expiresIn === undefined ? KavachKeyPair.generate() : KavachKeyPair.generateWithExpiry(durationSeconds(opts.expiresIn, '--expires-in'))
  mkdirSync(opts.out, { recursive: true })
  const secretFile = join(opts.out, `${kp.id}.secret`)
  const publicFile = join(opts.out, `${kp.id}.public.json`)
  // 'wx': never overwrite an existing key.
  writeFileSync(secretFile, kp.exportSecret(passphrase), { mode: 0o600, flag: 'wx' })
  writeFileSync(publicFile, `${kp.publicKeys().toJSON()}\n`, { flag: 'wx' })
  const result = {
    ok: true,
    keyId: kp.id,
    secret: secretFile,
    encrypted: passphrase !== undefined,
    publicBundle: publicFile,
    expiresAt: kp.expiresAt === null ? null : new Date(kp.expiresAt * 1000).toISOString(),
  }
  if (opts.json === true) {
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`)
  } else {
    process.stdout.write(`key ${result.keyId}\n  secret  ${secretFile}${result.encrypted ? ' (encrypted)' : ' (NOT encrypted: store it like a private key)'}\n  public  ${publicFile}\n  expires ${result.expiresAt ?? 'never'}\n`)
  }
  return EXIT_OK
}
