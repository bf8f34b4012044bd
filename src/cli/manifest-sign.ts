// `kavach manifest sign --root KEY --bundles B.json…`: a public-key manifest signed by the root
// key, the file `PublicKeyDirectory.fromSignedFile` loads.

import { writeFileSync } from 'node:fs'

import { KavachKeyPair, PublicKeyBundle } from '../pq.js'
import { EXIT_OK } from './exit.js'
import { checkOutputIsNoInput, readInput } from './input-files.js'
import { passphraseFrom } from './secrets.js'

interface ManifestOptions {
  root: string
  bundles: string[]
  passphraseEnv?: string
  out?: string
  json?: boolean
}

export function run(opts: ManifestOptions): number {
  checkOutputIsNoInput('--out', opts.out, [{ path: opts.root, what: 'root key' }, ...opts.bundles.map((path) => ({ path, what: 'bundle' }))])
  const root = KavachKeyPair.importSecret(readInput(opts.root, 'root key'), passphraseFrom(opts.passphraseEnv))
  const bundles = opts.bundles.map((file) => {
    try {
      return PublicKeyBundle.fromJSON(readInput(file, 'bundle'))
    } catch (e) {
      throw Object.assign(new Error(`bundle '${file}': ${(e as Error).message}`), { code: (e as { code?: string }).code })
    }
  })
  const manifest = root.buildSignedManifest(bundles)
  if (opts.out !== undefined) writeFileSync(opts.out, manifest)
  const summary = { ok: true, rootKeyId: root.id, keyIds: bundles.map((b) => b.id) }
  if (opts.json === true) {
    // The manifest itself (its signed text, UTF-8 JSON) in `manifest` unless it went to --out.
    const result = opts.out === undefined ? { ...summary, manifest: manifest.toString('utf8') } : { ...summary, out: opts.out }
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`)
  } else if (opts.out === undefined) {
    process.stdout.write(manifest)
  } else {
    process.stdout.write(`manifest ${opts.out}: ${bundles.length} key(s) signed by root ${root.id}\n`)
  }
  return EXIT_OK
}
