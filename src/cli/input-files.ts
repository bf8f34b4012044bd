// Files the CLI reads besides policies (a context, a key, a bundle, a checkpoint, an audit
// chain): regular files only, as policies are read (src/policy-file.ts), so a FIFO or a device
// named by mistake is an error naming it, never a hang or an endless read.

import { constants } from 'node:buffer'

import { readRegularFile } from '../policy-file.js'

/** A context, a key, a bundle or a checkpoint: small files. */
const MAX_INPUT_BYTES = 64 * 1024 * 1024

/** A small input file, `what` naming it in errors (`--context`, `bundle`). */
export function readInput(path: string, what: string): Buffer {
  return readRegularFile(path, what, MAX_INPUT_BYTES, '64 MiB for an input file')
}

/** An audit chain, read whole: as large as one Buffer can be. */
export function readChain(path: string): Buffer {
  return readRegularFile(path, 'audit chain', constants.MAX_LENGTH - 1, 'the largest Buffer')
}
