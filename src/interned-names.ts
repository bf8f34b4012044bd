// The TS half of a gate's interned names (crates/kavach-node/src/names.rs): action names,
// roles and param names are sent to the native side once, then travel as an index in the
// scratch array instead of in the fast path's text. Principal ids are not interned: some
// applications have many, and interning them measured no gain (docs/ARCHITECTURE.md,
// "Interned names").

import { FAST_IN_MAX_NAMES, FAST_IN_MAX_NAME_UNITS } from './generated/layout.js'
import { internName } from './native.js'

export class InternedNames {
  /** Name to native index, or -1 for a name the native side would not take. */
  readonly #ids = new Map<string, number>()
  readonly #handle: number

  constructor(handle: number) {
    this.#handle = handle
  }

  /**
   * Writes `name`'s slot at `s[i]`: `-1 - index` when interned, else its length. Returns what
   * the text needs for it: nothing, or the name itself.
   */
  slot(s: Float64Array, i: number, name: string): string {
    const k = this.#index(name)
    if (k >= 0) {
      s[i] = -1 - k
      return ''
    }
    s[i] = name.length
    return name
  }

  /**
   * The native index of `name`, asking the native side the first time. Long names are not
   * looked up or kept (the map would pin them); the map never holds more than
   * `FAST_IN_MAX_NAMES` names, as the native table does not.
   */
  #index(name: string): number {
    if (name.length > FAST_IN_MAX_NAME_UNITS) return -1
    const k = this.#ids.get(name)
    if (k !== undefined) return k
    if (this.#ids.size >= FAST_IN_MAX_NAMES) return -1
    const added = internName(this.#handle, name)
    this.#ids.set(name, added)
    return added
  }
}
