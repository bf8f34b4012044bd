// Files the CLI reads besides policies (a context, a key, a bundle, a checkpoint, an audit
// chain): regular files only, as policies are read (src/policy-file.ts), so a FIFO or a device
// named by mistake is an error naming it, never a hang or an endless read.

import { constants } from 'node:buffer'
import { closeSync, constants as fsConstants, fstatSync, openSync, readSync } from 'node:fs'

import { IoError } from '../errors.js'
import { fileKind, readRegularFile } from '../policy-file.js'

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

/** The size of the chunks an audit chain is read in when it is not read whole. */
const CHAIN_CHUNK_BYTES = 1024 * 1024

/**
 * An audit chain in chunks, up to the size it has when opened (lines appended while it is read
 * are not read): a regular file only, like `readChain`, read one chunk at a time.
 */
export function* chainChunks(path: string): Generator<Buffer> {
  let fd: number
  try {
    // Non-blocking: a FIFO without a writer opens at once and is then refused by its type.
    fd = openSync(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK)
  } catch (e) {
    throw new IoError(`cannot read audit chain '${path}': ${(e as Error).message}`, { cause: e })
  }
  try {
    const st = fstatSync(fd)
    if (!st.isFile()) throw new IoError(`audit chain '${path}' is not a regular file (${fileKind(st)})`)
    let left = st.size
    while (left > 0) {
      const chunk = Buffer.allocUnsafe(Math.min(CHAIN_CHUNK_BYTES, left))
      let n: number
      try {
        n = readSync(fd, chunk, 0, chunk.length, null)
      } catch (e) {
        throw new IoError(`cannot read audit chain '${path}': ${(e as Error).message}`, { cause: e })
      }
      if (n === 0) break
      left -= n
      yield chunk.subarray(0, n)
    }
  } finally {
    closeSync(fd)
  }
}
