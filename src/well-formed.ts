// Strings that are signed, stored or compared as identities must be well-formed UTF-16. A lone
// surrogate reaches the native side as U+FFFD (napi converts strings to UTF-8), so two
// different strings ('pay\ud800', 'pay\udfff') would be signed, stored or looked up as one: a
// signature made for one would verify for the other, a revocation of one would revoke both.

/** A high surrogate not followed by a low one, or a low one not preceded by a high one. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/

/** Why `s` cannot stand for itself on the native side, naming `field`, or undefined. */
export function wellFormedProblem(field: string, s: string): string | undefined {
  const m = LONE_SURROGATE.exec(s)
  if (m === null) return undefined
  const unit = m[0].charCodeAt(0).toString(16).toUpperCase()
  return `${field} has a lone surrogate (\\u${unit}) at index ${m.index}: only well-formed strings are accepted`
}
