// `gate.watch(path, options)`: reload the gate's policy set when its file changes.
//
// What is watched: the file's directory (chokidar, loaded on first use), filtered to the file's
// name. Watching the directory rather than the file's inode follows the file through a delete
// and re-create, a replacement by a directory and back, an atomic save (write + rename) and a
// symlink swap (a Kubernetes ConfigMap). If the directory itself is removed (or does not exist
// yet), the watcher checks for it every DIR_POLL_MS and watches it once it is there.
//
// A symlink swap can re-point a link other than the file: ConfigMap's `..data` (the file is
// `..data/policies.toml`), or a deploy tool's `current -> releases/r1` re-pointed to r2 while
// r1 is kept. Nothing happens to the file's name then, so the directory of every symlink along
// the file's path is watched as well, and a change of one of those links (chokidar's raw events,
// which its name filter does not drop) is checked against the file's `signature`, which follows
// the links: a different inode or content behind the same path is loaded. The OS watch on a
// directory reached through a link stays on the directory it resolved to when armed, so when a
// swap resolves the file's directory elsewhere (`current/` to r2), the watch is armed anew on
// the path, without the directories that hold no link on it.
//
// A link whose target is deleted dangles, and the file comes back under the name the link
// resolves to (through any chain of links), in a directory that may hold no link. So the
// directory holding the name where the path's resolution ends (the file it leads to, or the
// first missing name on the way) is watched too, and an event for that name is checked the same
// way. When the resolution ends at another name (a directory on the way removed or created
// again), or a watched directory is removed (its OS watch ends with it, even when a directory of
// that name is back at once), the watch is armed anew.
//
// When a change is loaded: `debounceMs` after the last event, and then only once the file has
// not changed (size, mtime, ctime, inode) for `stabilityMs`, checked again after the read. A
// writer that rewrites the file in place in several writes is therefore not loaded half-written
// (a prefix cut at a table boundary is valid TOML and can permit what neither version permits),
// provided it pauses less than `stabilityMs` between writes. Nothing can tell a paused writer
// from a finished one; an atomic save (write a temporary file, rename it over) has no such window.
//
// Failures never reach the caller's process as an exception: a file that does not load keeps
// the previous set (the native loader validates before it swaps) and is emitted as `error`, or,
// with no `error` listener, reported with `process.emitWarning` (an error of the same class and
// `code`, naming the watched path). A listener that throws, or whose promise rejects, is
// reported as a warning (code KAVACH_WATCH_LISTENER_FAILED) and the watcher goes on.

import { EventEmitter } from 'node:events'
import { type Stats, lstatSync, readlinkSync, realpathSync, statSync } from 'node:fs'
import { basename, dirname, extname, parse, resolve, sep } from 'node:path'

import type { FSWatcher } from 'chokidar'

import { isThenable } from './arguments.js'
import { InvalidArgumentError, IoError, KavachError, errorClassFor, excerpt, kindOf, thrownText } from './errors.js'
import { isRecord, ownFields } from './own-properties.js'
import { quotedNames } from './options.js'
import { readPolicyFile } from './policy-file.js'

export interface WatchOptions {
  /** Wait this long after the last change event before checking the file (editors write in bursts). @default 100 */
  debounceMs?: number
  /**
   * Load the file only once it has not changed for this long, so that a file rewritten in place
   * in several writes is not loaded half-written. A writer that pauses longer than this
   * mid-write can still be read half-written: save atomically (write a temporary file in the
   * same directory, then rename it over the policy file). `0` loads as soon as `debounceMs` has
   * passed. @default 1000
   */
  stabilityMs?: number
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
  /**
   * The file did not load (`PolicyParseError`; `IoError` when it is missing, not a regular file
   * or unreadable); the previous set is still live. Without a listener: a process warning.
   */
  error: [error: KavachError]
  /** The watch is set up: changes from now on are seen. */
  ready: []
}

const DEFAULT_DEBOUNCE_MS = 100
const DEFAULT_STABILITY_MS = 1000
/** The longest delay `setTimeout` honours (a longer one fires at once, with a warning). */
const MAX_DELAY_MS = 2 ** 31 - 1
/** How often a removed directory is checked for (it is not watched while it does not exist). */
const DIR_POLL_MS = 1000
/** How often the file is checked while waiting for it to stop changing. */
const POLL_MS = 100
/** With `stabilityMs: 0`, the wait before reading again a file that changed during the read. */
const RETRY_MS = 10
const OPTION_NAMES = ['debounceMs', 'stabilityMs'] as const

/** Warning code of an event listener that threw (or whose promise rejected). */
const WATCH_LISTENER_FAILED = 'KAVACH_WATCH_LISTENER_FAILED'

function describe(v: unknown): string {
  if (typeof v === 'string') return `string '${excerpt(v)}'`
  if (typeof v === 'number') return `number ${v}`
  return kindOf(v)
}

function checkArguments(path: unknown, options: unknown): { debounceMs: number; stabilityMs: number } {
  if (typeof path !== 'string') throw new InvalidArgumentError(`gate.watch: path must be a non-empty string, got ${kindOf(path)}`)
  if (path.length === 0) throw new InvalidArgumentError("gate.watch: path must be a non-empty string, got ''")
  if (path.includes('\0')) {
    throw new InvalidArgumentError(`gate.watch: path must not contain a NUL byte, got '${excerpt(path.replaceAll('\0', '\\0'))}'`)
  }
  const out = { debounceMs: DEFAULT_DEBOUNCE_MS, stabilityMs: DEFAULT_STABILITY_MS }
  // `null` is "no options", as for the gate's own factories.
  if (options === undefined || options === null) return out
  if (!isRecord(options)) throw new InvalidArgumentError(`gate.watch: options must be an object, got ${kindOf(options)}`)
  // Own properties only: an inherited (or polluted prototype) value is never read as an option.
  const given = ownFields(options)
  const unknown = Object.keys(given).filter((k) => !(OPTION_NAMES as readonly string[]).includes(k))
  if (unknown.length > 0) {
    throw new InvalidArgumentError(
      `gate.watch: unknown option(s) ${quotedNames(unknown)} (expected ${OPTION_NAMES.map((k) => `'${k}'`).join(', ')})`,
    )
  }
  for (const name of OPTION_NAMES) {
    const v = given[name]
    if (v === undefined) continue
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > MAX_DELAY_MS) {
      throw new InvalidArgumentError(`gate.watch: option '${name}' must be a number of milliseconds from 0 to ${MAX_DELAY_MS}, got ${describe(v)}`)
    }
    out[name] = v
  }
  return out
}

/**
 * What identifies the file's current content without reading it: a write changes the size or
 * the modification time, a replacement changes the inode. A path that cannot be stat'ed is
 * identified by the error code (so a file that stays missing is "unchanged").
 */
function signature(file: string): string {
  try {
    const st = statSync(file, { bigint: true })
    return `${st.dev}:${st.ino}:${st.mode}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`
  } catch (e) {
    return `error:${(e as NodeJS.ErrnoException).code ?? 'unknown'}`
  }
}

/** At most this many symlinks are followed along a path (Linux's own limit is 40). */
const MAX_LINKS = 40

/** How the system resolves a path, as far as it gets. */
interface Resolution {
  /** The absolute paths of the symlinks along it (of its directories and of itself), in the order they are followed. */
  links: string[]
  /**
   * Where the resolution ends: the file the path leads to, or the first name on the way that
   * is missing or not a directory where one is needed (a dangling link's target, say). The
   * directory holding it exists, so watching that directory sees the name come back.
   */
  end: string
}

/** How the system resolves `file` now (see Resolution). */
function resolution(file: string): Resolution {
  const links: string[] = []
  let path = resolve(file)
  restart: while (links.length < MAX_LINKS) {
    const { root } = parse(path)
    const parts = path.slice(root.length).split(sep).filter((p) => p !== '')
    let at = root
    for (let i = 0; i < parts.length; i++) {
      const next = resolve(at, parts[i]!)
      let target: string
      try {
        const st = lstatSync(next)
        if (!st.isSymbolicLink()) {
          if (i < parts.length - 1 && !st.isDirectory()) return { links, end: next }
          at = next
          continue
        }
        target = readlinkSync(next)
      } catch {
        return { links, end: next }
      }
      links.push(next)
      path = resolve(at, target, ...parts.slice(i + 1))
      continue restart
    }
    return { links, end: at }
  }
  return { links, end: path }
}

function sameResolution(a: Resolution, b: Resolution): boolean {
  return a.end === b.end && a.links.length === b.links.length && a.links.every((link, i) => link === b.links[i])
}

/** Where `path` resolves to, or undefined when it does not. */
function realPath(path: string): string | undefined {
  try {
    return realpathSync(path)
  } catch {
    return undefined
  }
}

/** The absolute path a chokidar raw event's `details` say it comes from, if they say. */
function watchedPathOf(details: unknown): string | undefined {
  const watched = typeof details === 'object' && details !== null ? (details as { watchedPath?: unknown }).watchedPath : undefined
  return typeof watched === 'string' ? resolve(watched) : undefined
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory()
  } catch {
    return false
  }
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile()
  } catch {
    return false
  }
}

export class PolicyWatcher extends EventEmitter<PolicyWatcherEvents> {
  /** The path as given to `gate.watch`. */
  readonly path: string
  readonly #gate: Reloadable
  readonly #debounceMs: number
  readonly #stabilityMs: number
  /** The absolute path (resolved once: a later `process.chdir` does not move the watch). */
  readonly #file: string
  readonly #dir: string
  /**
   * The names whose change can change where the path leads, as the current watch found them:
   * the symlinks along it and the name its resolution ends at (see Resolution).
   */
  #pathNames = new Set<string>()
  /** `signature` of the file when a load was last scheduled (or the watch started). */
  #seen: string
  readonly #json: boolean
  #watcher: FSWatcher | undefined
  /** Set while the directory is missing: checks for it to come back. */
  #dirPoll: ReturnType<typeof setInterval> | undefined
  #timer: ReturnType<typeof setTimeout> | undefined
  /** The stability wait in progress, so that close() can end it at once. */
  #wait: { timer: ReturnType<typeof setTimeout>; done: () => void } | undefined
  #closed = false
  /** Closes in flight of watches that were replaced (`#retire`). */
  readonly #retiring = new Set<Promise<void>>()
  #readyEmitted = false
  /** Whether a load is queued behind the one in progress (one queued load covers every later event). */
  #queued = false
  /** `signature` of the file when `watch()` was called. */
  readonly #atStart: string
  /** The load in progress, so loads never overlap. Never rejects (#load reports everything). */
  #loading: Promise<void> = Promise.resolve()

  /** @internal Use `gate.watch(path, options)`. */
  constructor(gate: Reloadable, path: string, options?: WatchOptions) {
    super()
    const { debounceMs, stabilityMs } = checkArguments(path, options)
    this.path = path
    this.#gate = gate
    this.#debounceMs = debounceMs
    this.#stabilityMs = stabilityMs
    this.#file = resolve(path)
    this.#dir = dirname(this.#file)
    this.#json = extname(this.#file).toLowerCase() === '.json'
    // The file as the watch starts: a save before the directory watch is ready sends no event,
    // so `ready` compares against this (see #arm).
    this.#atStart = signature(this.#file)
    this.#seen = this.#atStart
    if (isDirectory(this.#dir)) {
      this.#arm(this.#atStart)
    } else {
      // Nothing to watch yet: report the missing file (after `ready`) and wait for the directory.
      setImmediate(() => {
        this.#ready()
        this.#schedule()
      })
      this.#awaitDirectory()
    }
  }

  /**
   * Watches the file's directory and those holding the names its path resolves through (the
   * symlinks along it and the name the resolution ends at); once that watch is ready, a file
   * whose `signature` differs from `baseline` (or, on the first watch, that is not a regular
   * file) is loaded.
   */
  #arm(baseline: string): void {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const chokidar = require('chokidar') as typeof import('chokidar')
    const dir = this.#dir
    const file = this.#file
    const armedFor = resolution(file)
    const names = [...armedFor.links, armedFor.end]
    /** The directories this watch covers: the file's, and those holding the names along its path. */
    const dirs = new Set([dir, ...names.map((name) => dirname(name))])
    /** Where the file's directory resolved to when this watch was armed. */
    const resolvedDir = realPath(dir)
    // Every directory given at once, so `ready` (below) comes once all of them are watched; when
    // the path resolves otherwise, a new watch replaces this one (`#rearm`).
    const watcher = chokidar.watch([...dirs], {
      ignoreInitial: true,
      // An `unlink` followed shortly by an `add` (a save by rename) is one `change`.
      atomic: true,
      depth: 0,
      // The file's name as a directory is not watched into: chokidar would keep treating the
      // name as a directory after it is a file again, and report no event for it.
      ignored: (p: string, st?: Stats) => (!dirs.has(p) && p !== file) || (p === file && st !== undefined && st.isDirectory()),
    })
    this.#watcher = watcher
    this.#pathNames = new Set(names)
    // Where the path leads may have changed (a link re-pointed, a dangling link's target created,
    // a directory on the way removed): load if the file is not what was last seen, and arm a new
    // watch if a watched directory went (`watchLost`: its OS watch went with it, even when a new
    // directory of that name is already there), the file's directory resolves elsewhere, or the
    // path resolves through other names.
    const recheck = (watchLost: boolean) => {
      if (this.#watcher !== watcher) return
      if (signature(file) !== this.#seen) this.#schedule()
      if (watchLost || realPath(dir) !== resolvedDir || !sameResolution(resolution(file), armedFor)) this.#rearm(watcher)
    }
    watcher.on('all', (event, p) => {
      const at = resolve(p)
      if (at === file) {
        // chokidar reports a removal late (`atomic`): a removal already scheduled by a raw event
        // (of the file's name or its target's) is not loaded, and reported, a second time.
        if (event !== 'unlink' || signature(file) !== this.#seen) this.#schedule()
      } else if (at === dir && event === 'unlinkDir') this.#lostDirectory(watcher)
    })
    // The names along the path are filtered out of chokidar's events, not of its raw ones. Other
    // entries cannot change where the path leads. The OS names a watched directory that was
    // removed or moved by its own name (chokidar reports no `unlinkDir` for it).
    watcher.on('raw', (event: string, name: unknown, details: unknown) => {
      const from = watchedPathOf(details)
      if (from !== undefined && dirs.has(from) && event === 'rename' && name === basename(from)) recheck(true)
      else if (this.#mayMovePath(name, from)) recheck(false)
    })
    watcher.on('error', (e) => this.#fail(new IoError(`watch '${this.path}': ${thrownText(e)}`, { cause: e })))
    watcher.once('ready', () => {
      // A missing file is reported once the first watch is ready; a later watch reports only a change.
      const first = !this.#readyEmitted
      this.#ready()
      // The file may have been saved, replaced or removed while this watch was being armed.
      if ((first && !isFile(file)) || signature(file) !== baseline) this.#schedule()
    })
  }

  /**
   * Whether a raw event from the watched path `from` (undefined: not known) names the file
   * (which may have become a link) or a name along its path, or comes without a name from a
   * directory holding one: only then can where the path leads have changed.
   */
  #mayMovePath(name: unknown, from: string | undefined): boolean {
    if (from === undefined) return true
    if (typeof name !== 'string' || name === '') return [...this.#pathNames].some((pathName) => dirname(pathName) === from)
    const at = resolve(from, name)
    return at === this.#file || this.#pathNames.has(at)
  }

  /** Closes a watch that another replaces (or that has nothing left to watch); `close()` awaits it. */
  #retire(watcher: FSWatcher): void {
    const closing = watcher.close().catch((e: unknown) => this.#fail(new IoError(`watch '${this.path}': ${thrownText(e)}`, { cause: e })))
    this.#retiring.add(closing)
    void closing.finally(() => this.#retiring.delete(closing))
  }

  /** The file's directory resolves elsewhere (or a link left the path): a new watch replaces `watcher`. */
  #rearm(watcher: FSWatcher): void {
    if (this.#closed || this.#watcher !== watcher) return
    this.#watcher = undefined
    this.#retire(watcher)
    if (isDirectory(this.#dir)) this.#arm(this.#seen)
    else {
      this.#schedule()
      this.#awaitDirectory()
    }
  }

  /** The directory was removed: its watch ends; the file's absence is reported by the load. */
  #lostDirectory(watcher: FSWatcher): void {
    if (this.#closed || this.#watcher !== watcher) return
    this.#watcher = undefined
    this.#retire(watcher)
    this.#schedule()
    this.#awaitDirectory()
  }

  #awaitDirectory(): void {
    if (this.#closed || this.#dirPoll !== undefined) return
    this.#dirPoll = setInterval(() => {
      if (this.#closed || !isDirectory(this.#dir)) return
      clearInterval(this.#dirPoll)
      this.#dirPoll = undefined
      // A file written before the new watch is armed is seen by the check on `ready`, or by this load.
      this.#arm(this.#seen)
      this.#schedule()
    }, DIR_POLL_MS)
  }

  #ready(): void {
    if (this.#readyEmitted) return
    this.#readyEmitted = true
    this.#deliver('ready')
  }

  #schedule(): void {
    if (this.#closed) return
    this.#seen = signature(this.#file)
    clearTimeout(this.#timer)
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      if (this.#queued) return
      this.#queued = true
      this.#loading = this.#loading
        .then(() => {
          this.#queued = false
          return this.#load()
        })
        // A safety net: #load reports its own failures, so this only catches a bug in it.
        .catch((e: unknown) =>
          this.#warn(`kavach: gate.watch('${this.path}'): a reload failed unexpectedly: ${thrownText(e)}`, 'KAVACH_WATCH_FAILED', e),
        )
    }, this.#debounceMs)
  }

  /** Resolves after `ms`, or at once when the watcher closes. */
  #sleep(ms: number): Promise<void> {
    return new Promise((done) => {
      const timer = setTimeout(() => {
        this.#wait = undefined
        done()
      }, ms)
      this.#wait = { timer, done }
    })
  }

  async #load(): Promise<void> {
    let settleMs = this.#stabilityMs
    for (;;) {
      if (this.#closed) return
      // Wait until `settleMs` has passed since the file last changed, checking every POLL_MS.
      let seen = signature(this.#file)
      let since = performance.now()
      for (let left = settleMs; left > 0; left = settleMs - (performance.now() - since)) {
        await this.#sleep(Math.min(POLL_MS, left))
        if (this.#closed) return
        const now = signature(this.#file)
        if (now !== seen) {
          seen = now
          since = performance.now()
        }
      }
      let text: string
      try {
        // The loader's file rules (regular file, size cap, strict UTF-8): src/policy-file.ts.
        text = readPolicyFile('gate.watch', this.#file)
      } catch (e) {
        this.#fail(this.#readError(e))
        return
      }
      if (this.#closed) return
      // Written to during the read: what was read may be a mix of two versions.
      if (signature(this.#file) !== seen) {
        settleMs = Math.max(settleMs, RETRY_MS)
        continue
      }
      try {
        if (this.#json) this.#gate.reloadJson(text)
        else this.#gate.reload(text)
      } catch (e) {
        // The gate's reload throws typed errors (PolicyParseError); the previous set stays live.
        this.#fail(e instanceof KavachError ? e : new IoError(`cannot load policy file '${this.#file}': ${thrownText(e)}`, { cause: e }))
        return
      }
      this.#deliver('reload', { path: this.path, policies: this.#gate.policyCount })
      return
    }
  }

  #readError(e: unknown): KavachError {
    const code = ((e as { cause?: { code?: unknown } }).cause ?? (e as { code?: unknown }))?.code
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      return new IoError(
        `policy file '${this.#file}' does not exist (deleted or moved): ` +
          'the previous policy set stays live, and the file is loaded again when it is back',
        { cause: e },
      )
    }
    if (e instanceof KavachError) return e
    return new IoError(`cannot read policy file '${this.#file}': ${thrownText(e)}`, { cause: e })
  }

  /** Emits `error`, or, with no listener, reports the error as a process warning. */
  #fail(err: KavachError): void {
    if (this.#closed) return
    if (this.listenerCount('error') > 0) {
      this.#deliver('error', err)
      return
    }
    // The same class and code as the error, with a message that says where it comes from.
    const Cls = errorClassFor(err.code)
    const live = err.message.includes('the previous policy set stays live') ? '' : 'the previous policy set stays live; '
    const message = `gate.watch('${this.path}'): ${err.message} (${live}add an 'error' listener to the watcher to handle this)`
    process.emitWarning(Cls !== undefined ? new Cls(message, { cause: err }) : new KavachError(err.code, message, { cause: err }))
  }

  /**
   * Calls each listener of `event` on its own: one that throws (or returns a promise that
   * rejects) is reported as a warning, and the other listeners and the watcher go on.
   */
  #deliver<K extends keyof PolicyWatcherEvents>(event: K, ...args: PolicyWatcherEvents[K]): void {
    if (this.#closed) return
    // rawListeners: a `once` wrapper removes itself when called, as with emit().
    for (const listener of this.rawListeners(event) as ((...a: unknown[]) => unknown)[]) {
      try {
        const r = listener.apply(this, args)
        if (isThenable(r)) r.then(undefined, (e: unknown) => this.#listenerFailed(event, e))
      } catch (e) {
        this.#listenerFailed(event, e)
      }
    }
  }

  #listenerFailed(event: string, e: unknown): void {
    const message = `kavach: gate.watch('${this.path}'): a listener of the '${event}' event failed (the watcher goes on): ${thrownText(e)}`
    this.#warn(message, WATCH_LISTENER_FAILED, e)
  }

  #warn(message: string, code: string, e: unknown): void {
    process.emitWarning(message, { code, detail: e instanceof Error ? e.stack : undefined })
  }

  /** Stops watching; no event is emitted afterwards. Nothing stays open (the process can exit). Never rejects. */
  async close(): Promise<void> {
    this.#closed = true
    clearTimeout(this.#timer)
    clearInterval(this.#dirPoll)
    this.#dirPoll = undefined
    if (this.#wait !== undefined) {
      clearTimeout(this.#wait.timer)
      this.#wait.done()
      this.#wait = undefined
    }
    const watcher = this.#watcher
    this.#watcher = undefined
    try {
      await watcher?.close()
    } catch {
      // Closing is best effort: the watch is over either way, and nothing is emitted after close.
    }
    // Watches replaced earlier may still be closing: nothing stays open once this resolves.
    await Promise.all(this.#retiring)
    await this.#loading
  }
}
