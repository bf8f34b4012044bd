// The name rules of crates/kavach-core/src/policy/identifier.rs, for the zod schema: names a
// policy matches on (patterns, identity_role, identity_id) and policy names. The native loader
// is the authority; this mirrors it so that the schema and the loader agree.

/** The longest name, in UTF-8 bytes. */
export const MAX_NAME_BYTES = 256

const CONTROL_OR_SURROGATE = /[\p{Cc}\p{Cs}\uFFFD]/u
// Unicode's default-ignorable code points (kavach-text `is_invisible` lists the same set).
const INVISIBLE = /\p{Default_Ignorable_Code_Point}/u
const EDGE_SPACE = /^\p{White_Space}|\p{White_Space}$/u
// By the Unicode Script property, as the core classifies letters (kavach-core `identifier.rs`,
// `unicode-script`): Coptic counts as Greek; characters common to scripts (digits, `_`, `×`)
// belong to none.
const SCRIPTS = [/\p{Script=Latin}/u, /[\p{Script=Greek}\p{Script=Coptic}]/u, /\p{Script=Cyrillic}/u]

/** Whether `s` may be a name the gate matches on: the rules apply to its NFC form, as in the gate. */
export function isValidName(name: string): boolean {
  const s = name.normalize('NFC')
  if (s.length === 0 || Buffer.byteLength(s) > MAX_NAME_BYTES) return false
  if (CONTROL_OR_SURROGATE.test(s) || INVISIBLE.test(s) || EDGE_SPACE.test(s)) return false
  return SCRIPTS.filter((r) => r.test(s)).length <= 1
}

export const NAME_RULES =
  'a name of at most 256 bytes without control or invisible (default-ignorable) characters, surrounding whitespace, or mixed Latin/Greek/Cyrillic letters'
