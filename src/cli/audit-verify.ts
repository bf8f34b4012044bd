// `kavach audit verify CHAIN.jsonl --bundle B.json [--checkpoint C.json]`: the native streaming
// verifier decides; the message of a bad chain names the first bad entry.
//
// On a terminal a progress bar shows entries verified, entries/s and ETA. The verifier is one
// native call with no progress callback, so the bar verifies growing prefixes of the chain
// (doubling: 1024, 2048, ... entries, then the whole chain): every prefix of a valid chain is
// a valid chain, the total work is under twice a single pass, and the first bad entry is
// still reported by the step that reaches it. Piped output gets no bar and a single pass.

import { Checkpoint, SignedAuditChain } from '../audit.js'
import { PublicKeyBundle } from '../pq.js'
import { EXIT_FINDINGS, EXIT_OK } from './exit.js'
import { readChain, readInput } from './input-files.js'

interface VerifyOptions {
  bundle: string
  checkpoint?: string
  /** A chain written PQ-only; the default requires hybrid entries (the mode never comes from the file). */
  pqOnly?: boolean
  json?: boolean
}

const FIRST_STEP = 1024

export interface ChainStatus {
  ok: boolean
  entries: number
  /** The verifier's message for a bad chain (names `entry <n>`). */
  error?: string
  code?: string
}

/**
 * Verifies `blob` under the bundle (and checkpoint), hybrid unless `pqOnly`; `onProgress` gets
 * entries verified so far.
 */
export function verifyChain(blob: Buffer, bundle: PublicKeyBundle, checkpoint: Checkpoint | undefined, pqOnly: boolean, onProgress?: (done: number, total: number) => void): ChainStatus {
  const ends = lineEnds(blob)
  const hybrid = !pqOnly
  try {
    if (onProgress !== undefined) {
      for (let step = FIRST_STEP; step < ends.length; step *= 2) {
        SignedAuditChain.verifyJsonl(blob.subarray(0, ends[step - 1]), bundle, { hybrid })
        onProgress(step, ends.length)
      }
    }
    const entries = SignedAuditChain.verifyJsonl(blob, bundle, checkpoint === undefined ? { hybrid } : { checkpoint, hybrid })
    onProgress?.(ends.length, ends.length)
    return { ok: true, entries }
  } catch (e) {
    return { ok: false, entries: ends.length, error: (e as Error).message, code: (e as { code?: string }).code }
  }
}

/** Byte offset just past each non-blank line. */
function lineEnds(blob: Buffer): number[] {
  const ends: number[] = []
  let start = 0
  while (start < blob.length) {
    let nl = blob.indexOf(0x0a, start)
    if (nl < 0) nl = blob.length - 1
    if (!isBlank(blob, start, nl + 1)) ends.push(nl + 1)
    start = nl + 1
  }
  return ends
}

/** Bytes a blank line may hold: what `String.prototype.trim` removes from a Latin-1 reading. */
const BLANK_BYTES = new Set([0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x20, 0xa0])

/**
 * Whether `blob[start, end)` is blank, looked at up to its first other byte: a line of
 * gigabytes (a sparse file's hole) is never turned into a string, which V8 could not hold.
 */
function isBlank(blob: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (!BLANK_BYTES.has(blob[i]!)) return false
  return true
}

export async function run(chain: string, opts: VerifyOptions): Promise<number> {
  const blob = readChain(chain)
  const bundle = PublicKeyBundle.fromJSON(readInput(opts.bundle, 'bundle'))
  const checkpoint = opts.checkpoint === undefined ? undefined : Checkpoint.fromJSON(readInput(opts.checkpoint, 'checkpoint'))
  let status: ChainStatus
  if (process.stderr.isTTY && opts.json !== true) {
    const { SingleBar, Presets } = await import('cli-progress')
    const bar = new SingleBar({ format: 'verifying [{bar}] {value}/{total} entries | {speed} entries/s | ETA {eta_formatted}', stream: process.stderr }, Presets.shades_classic)
    const started = Date.now()
    let begun = false
    status = verifyChain(blob, bundle, checkpoint, opts.pqOnly === true, (done, total) => {
      const speed = Math.round(done / Math.max(0.001, (Date.now() - started) / 1000))
      if (!begun) bar.start(total, 0, { speed })
      begun = true
      bar.update(done, { speed })
    })
    bar.stop()
  } else {
    status = verifyChain(blob, bundle, checkpoint, opts.pqOnly === true)
  }
  if (opts.json === true) process.stdout.write(`${JSON.stringify({ chain, ...status }, null, 2)}\n`)
  else if (status.ok) process.stdout.write(`ok  ${chain}: ${status.entries} entries verified${checkpoint === undefined ? '' : ', checkpoint matches'}\n`)
  else process.stdout.write(`BAD ${chain}: ${status.error} [${status.code}]\n`)
  return status.ok ? EXIT_OK : EXIT_FINDINGS
}
