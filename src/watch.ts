// `gate.watch(path, { debounceMs })`: reload the gate's policy set when its file changes.
// chokidar watches (loaded on first use); the native loader validates (a bad file throws and
// the old set stays live). Events: `reload` (policy count) and `error` (the typed error).

import { EventEmitter } from 'node:events'
import { extname } from 'node:path'

import type { FSWatcher } from 'chokidar'

import { IoError, KavachError } from './errors.js'
import { readPolicyFile } from './policy-file.js'

export interface WatchOptions {
  /** Wait this long after the last change before reloading (editors write in bursts). @default 100 */
  debounceMs?: number
}

/** What a watcher reloads: the TOML or JSON text into the gate it belongs to. */
export interface Reloadable {
  reload(toml: string): void
  reloadJson(json: string): void
  readonly policyCount: number
}

export interface PolicyWatcherEvents {
  /** The file loaded; `policies` is the new set's size. */
  reload: [info: { path: string; policies: number }]
  /** The file did not load (`PolicyParseError`, `IoError`); the previous set is still live. */
  error: [error: KavachError]
  /** The watch is set up: changes from now on are seen. */
  ready: []
}

export class PolicyWatcher extends EventEmitter<PolicyWatcherEvents> {
  readonly path: string
  readonly #gate: Reloadable
  readonly #debounceMs: number
  readonly #watcher: FSWatcher
  #timer: ReturnType<typeof setTimeout> | undefined
  #closed = false
  /** The load in progress, so reloads never overlap (the last change always wins). */
  #loading: Promise<void> = Promise.resolve()

  /** @internal Use `gate.watch(path, options)`. */
  constructor(gate: Reloadable, path: string, options: WatchOptions = {}) {
    super()
    const debounceMs = options.debounceMs ?? 100
    if (!Number.isFinite(debounceMs) || debounceMs < 0) throw new IoError(`watch: debounceMs must be a finite number >= 0, got ${debounceMs}`)
    this.path = path
    this.#gate = gate
    this.#debounceMs = debounceMs
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const chokidar = require('chokidar') as typeof import('chokidar')
    // Polling-free watch of the one file; atomic saves (write + rename) are followed.
    this.#watcher = chokidar.watch(path, { ignoreInitial: true, atomic: true })
    this.#watcher.on('all', (event) => {
      if (event === 'add' || event === 'change') this.#schedule()
    })
    this.#watcher.on('error', (e) => this.emit('error', new IoError(`watch '${path}': ${(e as Error).message}`, { cause: e })))
    this.#watcher.on('ready', () => this.emit('ready'))
  }

  #schedule(): void {
    if (this.#closed) return
    clearTimeout(this.#timer)
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      this.#loading = this.#loading.then(() => this.#load())
    }, this.#debounceMs)
  }

  async #load(): Promise<void> {
    if (this.#closed) return
    try {
      // The loader's file rules (regular file, size cap, strict UTF-8): src/policy-file.ts.
      const text = readPolicyFile(this.path)
      if (this.#closed) return
      if (extname(this.path).toLowerCase() === '.json') this.#gate.reloadJson(text)
      else this.#gate.reload(text)
      this.emit('reload', { path: this.path, policies: this.#gate.policyCount })
    } catch (e) {
      // The gate's reload throws typed errors; anything else here is the file read failing.
      const err = e instanceof KavachError ? e : new IoError(`cannot read policy file '${this.path}': ${(e as Error).message}`, { cause: e })
      this.emit('error', err)
    }
  }

  /** Stops watching; no event is emitted afterwards. Nothing stays open (the process can exit). */
  async close(): Promise<void> {
    this.#closed = true
    clearTimeout(this.#timer)
    await this.#watcher.close()
    await this.#loading
  }
}
