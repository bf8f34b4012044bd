// Reading a policy file for `Gate.fromFile` / `fromJsonFile` and `gate.watch`, by the rules of
// the Rust loader (crates/kavach-core/src/policy/file.rs): a regular file only (a FIFO, a
// device such as /dev/zero, a socket or a directory would block or never end), at most
// MAX_POLICY_FILE_BYTES, and UTF-8: a byte that is not UTF-8 is a PolicyParseError naming its
// offset, never replaced. A leading byte-order mark is dropped by the native loader.

import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from 'node:fs'

import { InvalidArgumentError, IoError, PolicyParseError, kindOf } from './errors.js'

/** The largest policy file read, in bytes (64 MiB, as the Rust loader). */
export const MAX_POLICY_FILE_BYTES = 64 * 1024 * 1024

const utf8 = new TextDecoder('utf-8', { fatal: true })

/** Offset of the first byte that does not start a valid UTF-8 sequence, or -1. */
export function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0
  while (i < b.length) {
    const c = b[i]!
    if (c < 0x80) {
      i++
      continue
    }
    const extra = c >= 0xc2 && c <= 0xdf ? 1 : c >= 0xe0 && c <= 0xef ? 2 : c >= 0xf0 && c <= 0xf4 ? 3 : 0
    if (extra === 0 || i + extra >= b.length) return i
    // The second byte's range excludes overlong forms, surrogates and code points past U+10FFFF.
    const lo = c === 0xe0 ? 0xa0 : c === 0xf0 ? 0x90 : 0x80
    const hi = c === 0xed ? 0x9f : c === 0xf4 ? 0x8f : 0xbf
    const c1 = b[i + 1]!
    if (c1 < lo || c1 > hi) return i
    for (let k = 2; k <= extra; k++) if ((b[i + k]! & 0xc0) !== 0x80) return i
    i += extra + 1
  }
  return -1
}

/** What a path that is not a regular file is, for the error that refuses it. */
export function fileKind(st: Stats): string {
  if (st.isFIFO()) return 'a FIFO'
  if (st.isSocket()) return 'a socket'
  if (st.isCharacterDevice()) return 'a character device'
  if (st.isBlockDevice()) return 'a block device'
  if (st.isDirectory()) return 'a directory'
  return 'not a file'
}

/** `bytes` as text, or a PolicyParseError naming the offset of the first bad byte. */
export function policyText(bytes: Uint8Array, what: string): string {
  try {
    return utf8.decode(bytes)
  } catch {
    const at = firstInvalidUtf8(bytes)
    const byte = (bytes[at] ?? 0).toString(16).toUpperCase().padStart(2, '0')
    throw new PolicyParseError(`${what} is not valid UTF-8: byte 0x${byte} at offset ${at} (save the file as UTF-8)`)
  }
}

/** The text of the policy file at `path` (see the file comment); `where` names the call in errors. */
export function readPolicyFile(where: string, path: unknown): string {
  if (typeof path !== 'string' || path.length === 0) {
    throw new InvalidArgumentError(`${where}: path must be a non-empty string (got ${path === '' ? 'an empty string' : kindOf(path)})`)
  }
  const bytes = readRegularFile(path, 'policy file', MAX_POLICY_FILE_BYTES, 'MAX_POLICY_FILE_BYTES')
  return policyText(bytes, `policy file '${path}'`)
}

/**
 * The most bytes asked of one `readSync`: its length is a 32-bit signed integer, so a file over
 * 2 GiB (an audit chain, read up to the largest Buffer) is read in several calls.
 */
const MAX_READ_BYTES = 2 ** 30

/**
 * The bytes of the regular file at `path`, `what` naming it in errors (`IoError`): a FIFO, a
 * device, a socket or a directory is refused by its type instead of blocking or never ending,
 * and a file over `maxBytes` (named by `limitName`) or one that grows while read is refused.
 */
export function readRegularFile(path: string, what: string, maxBytes: number, limitName: string): Buffer {
  let fd: number
  try {
    // Non-blocking: a FIFO without a writer opens at once and is then refused by its type.
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK)
  } catch (e) {
    throw new IoError(`cannot read ${what} '${path}': ${(e as Error).message}`, { cause: e })
  }
  try {
    const st = fstatSync(fd)
    if (!st.isFile()) throw new IoError(`${what} '${path}' is not a regular file (${fileKind(st)})`)
    const tooBig = (): IoError => new IoError(`${what} '${path}' is larger than the limit of ${maxBytes} bytes (${limitName})`)
    if (st.size > maxBytes) throw tooBig()
    // One byte past the size tells a file that grew while being read.
    const buf = Buffer.allocUnsafe(Math.min(st.size + 1, maxBytes + 1))
    let len = 0
    for (;;) {
      if (len === buf.length) {
        if (len > maxBytes) throw tooBig()
        throw new IoError(`${what} '${path}' changed while being read`)
      }
      const n = readSync(fd, buf, len, Math.min(buf.length - len, MAX_READ_BYTES), null)
      if (n === 0) break
      len += n
    }
    return buf.subarray(0, len)
  } catch (e) {
    if (e instanceof IoError) throw e
    throw new IoError(`cannot read ${what} '${path}': ${(e as Error).message}`, { cause: e })
  } finally {
    closeSync(fd)
  }
}
