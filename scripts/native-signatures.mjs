// Renders src/generated/native-signatures.ts from binding.d.ts (which napi-rs generates from
// the Rust entry points): each native method's, constructor's and function's parameters, by
// name and by the shapes of their declared types. The TS layer reads them to say which argument napi refused and what
// it wanted (src/native-errors.ts), so the parameters are written down once, in Rust.
//
//   node scripts/native-signatures.mjs           write the file
//   node scripts/native-signatures.mjs --check   exit 1 when the file is not current
import { readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const SOURCE = join(root, 'binding.d.ts')
const TARGET = join(root, 'src/generated/native-signatures.ts')

/** The text between the parenthesis at `open` and the one that closes it. */
function parenthesized(line, open) {
  let depth = 0
  for (let i = open; i < line.length; i++) {
    if (line[i] === '(') depth++
    else if (line[i] === ')' && --depth === 0) return line.slice(open + 1, i)
  }
  throw new Error(`native-signatures: unbalanced parentheses in ${line}`)
}

/** Splits `text` at its top-level occurrences of `separator` (`,` or `|`). */
function splitTopLevel(text, separator) {
  const parts = []
  let depth = 0
  let start = 0
  for (let i = 0; i < text.length; i++) {
    const c = text[i]
    if ('([{<'.includes(c)) depth++
    else if (')]}'.includes(c) || (c === '>' && text[i - 1] !== '=')) depth--
    else if (c === separator && depth === 0) {
      parts.push(text.slice(start, i))
      start = i + 1
    }
  }
  if (text.slice(start).trim() !== '') parts.push(text.slice(start))
  return parts.map((p) => p.trim())
}

/**
 * A declared type as the shapes napi's conversion accepts, one per alternative of a union:
 * 'string', 'number', 'boolean', 'bigint', 'function', 'Buffer', 'Float64Array', 'unknown' (a
 * type the TS layer checks itself, or napi does not), `{ literal }`, `{ arrayOf }`,
 * `{ instanceOf }` (a native class) or `{ object }` (an interface).
 */
function shapes(type, classes) {
  return splitTopLevel(type, '|').map((t) => {
    if (['string', 'number', 'boolean', 'bigint', 'Buffer', 'Float64Array', 'unknown'].includes(t)) return t
    if (/^'[^']*'$/.test(t)) return { literal: t.slice(1, -1) }
    if (t.startsWith('(')) return 'function'
    const element = /^Array<(.+)>$/s.exec(t)?.[1] ?? (t.endsWith('[]') ? t.slice(0, -2) : undefined)
    if (element !== undefined) return { arrayOf: shapes(element, classes) }
    if (/^\w+$/.test(t)) return classes.has(t) ? { instanceOf: t } : { object: t }
    return 'unknown'
  })
}

/** `name?: type` → [name, shapes, optional]. */
function parameter(text, classes) {
  const m = /^(\w+)(\?)?:\s*(.+)$/s.exec(text)
  if (m === null) throw new Error(`native-signatures: cannot read the parameter ${text}`)
  const [, name, question, type] = m
  const optional = question === '?' || /\|\s*undefined\b/.test(type)
  return [name, shapes(type.replace(/\s*\|\s*undefined\s*\|\s*null\s*$/, '').trim(), classes), optional]
}

export function render() {
  const lines = readFileSync(SOURCE, 'utf8').split('\n')
  const classes = new Set(lines.map((l) => /^export declare class (\w+)/.exec(l)?.[1]).filter((c) => c !== undefined))
  const signatures = new Map()
  let owner = null
  for (const line of lines) {
    const cls = /^export declare class (\w+)/.exec(line)
    if (cls) {
      owner = cls[1]
      continue
    }
    if (line === '}') owner = null
    const fn = /^export declare function (\w+)\(/.exec(line)
    const member = owner === null ? null : /^ {2}(?:static )?(\w+)\(/.exec(line)
    const m = fn ?? member
    if (m === null) continue
    const key = fn ? m[1] : m[1] === 'constructor' ? `${owner} constructor` : `${owner}.${m[1]}`
    if (signatures.has(key)) throw new Error(`native-signatures: ${key} is declared twice`)
    signatures.set(key, splitTopLevel(parenthesized(line, m[0].length - 1), ',').map((p) => parameter(p, classes)))
  }
  const rows = [...signatures].sort(([a], [b]) => (a < b ? -1 : 1)).map(([key, params]) => `  ${JSON.stringify(key)}: ${JSON.stringify(params)},`)
  return [
    '// Generated from binding.d.ts by scripts/native-signatures.mjs: do not edit. `npm run build`',
    '// regenerates it; `npm run check:generated` checks it is current.',
    '',
    '/** A shape napi accepts for a value (scripts/native-signatures.mjs says which type gives which). */',
    'export type NativeShape =',
    "  | 'string' | 'number' | 'boolean' | 'bigint' | 'function' | 'Buffer' | 'Float64Array' | 'unknown'",
    '  | { readonly literal: string }',
    '  | { readonly arrayOf: readonly NativeShape[] }',
    '  | { readonly instanceOf: string }',
    '  | { readonly object: string }',
    '',
    '/** A native parameter: its name, the shapes of its declared type (one per alternative), and whether it may be absent. */',
    'export type NativeParameter = readonly [name: string, shapes: readonly NativeShape[], optional: boolean]',
    '',
    '/** The parameters of each native entry point: `Class.method`, `Class constructor`, or a function name. */',
    'export const NATIVE_SIGNATURES: Readonly<Record<string, readonly NativeParameter[]>> = {',
    ...rows,
    '}',
    '',
  ].join('\n')
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const text = render()
  if (process.argv.includes('--check')) {
    if (readFileSync(TARGET, 'utf8') !== text) {
      console.error('src/generated/native-signatures.ts is out of date: run `node scripts/native-signatures.mjs` and commit it')
      process.exit(1)
    }
    console.log('src/generated/native-signatures.ts is up to date')
  } else {
    writeFileSync(TARGET, text)
  }
}
