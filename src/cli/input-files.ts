// Files the CLI reads besides policies (a context, a key, a bundle, a checkpoint, an audit
// chain): regular files only, as policies are read (src/policy-file.ts), so a FIFO or a device
// named by mistake is an error naming it, never a hang or an endless read.

import { constants } from 'node:buffer'
import { closeSync, constants as fsConstants, fstatSync, openSync, readSync, statSync } from 'node:fs'

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

/** `error.code` of an output file that is an input file (exit 1). */
export const OUTPUT_IS_INPUT = 'OUTPUT_IS_INPUT'

/** A file a command reads, `what` naming it in errors (`audit chain`, `bundle`). */
export interface InputFile {
  path: string
  what: string
}

/** The file `path` names (symlinks followed), as device and inode, or undefined when there is none. */
function fileIdentity(path: string): { dev: bigint; ino: bigint } | undefined {
  try {
    const st = statSync(path, { bigint: true })
    return { dev: st.dev, ino: st.ino }
  } catch {
    return undefined
  }
}

/**
 * Refuses an output file (`option`, e.g. `--out`) that is one of the command's input files:
 * the same file by device and inode, whatever path, symlink or hard link names it. Writing it
 * would replace the input (a signed audit chain, a policy file, a key) with the output. Called
 * before anything is read or written; an output that does not exist yet is no input.
 */
export function checkOutputIsNoInput(option: string, out: string | undefined, inputs: readonly InputFile[]): void {
  if (out === undefined) return
  const target = fileIdentity(out)
  if (target === undefined) return
  for (const input of inputs) {
    const id = fileIdentity(input.path)
    if (id !== undefined && id.dev === target.dev && id.ino === target.ino) {
      const which = input.path === out ? 'itself' : `'${input.path}' under another name`
      throw Object.assign(new Error(`${option} '${out}' is the ${input.what} ${which}: writing it would destroy the ${input.what}; name another file`), {
        code: OUTPUT_IS_INPUT,
      })
    }
  }
}
