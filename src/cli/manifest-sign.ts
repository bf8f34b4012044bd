// `kavach manifest sign --root KEY --bundles B.json…`: a public-key manifest signed by the root
// key, the file `PublicKeyDirectory.fromSignedFile` loads.

import { readFileSync, writeFileSync } from 'node:fs'

import { KavachKeyPair, PublicKeyBundle } from '../pq.js'
import { EXIT_OK } from './exit.js'
import { passphraseFrom } from './secrets.js'

interface ManifestOptions {
  root: string
  bundles: string[]
  passphraseEnv?: string
  out?: string
  json?: boolean
}

export function run(opts: ManifestOptions): number {
  const root = KavachKeyPair.importSecret(readFileSync(opts.root), passphraseFrom(opts.passphraseEnv))
  const bundles = opts.bundles.map((file) => {
    try {
      return PublicKeyBundle.fromJSON(readFileSync(file))
    } catch (e) {
      throw Object.assign(new Error(`bundle '${file}': ${(e as Error).message}`), { code: (e as { code?: string }).code })
    }
  })
  const manifest = root.buildSignedManifest(bundles)
  if (opts.out === undefined) process.stdout.write(manifest)
  else writeFileSync(opts.out, manifest)
  if (opts.out !== undefined) {
    const summary = { out: opts.out, rootKeyId: root.id, keyIds: bundles.map((b) => b.id) }
    process.stdout.write(opts.json === true ? `${JSON.stringify(summary, null, 2)}\n` : `manifest ${opts.out}: ${bundles.length} key(s) signed by root ${root.id}\n`)
  }
  return EXIT_OK
}
