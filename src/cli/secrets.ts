// Passphrases and durations from the command line. Passphrases come only from environment
// variables: never an argument (it would show in `ps` and shell history).

import { UsageError } from './exit.js'

/** The passphrase in `$name`, or undefined when no variable was named. */
export function passphraseFrom(name: string | undefined): string | undefined {
  if (name === undefined) return undefined
  const value = process.env[name]
  if (value === undefined || value === '') throw new UsageError(`--passphrase-env ${name}: the variable is not set or empty`)
  return value
}

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 }

/** `90d`, `12h`, `30m`, `45s` → seconds. */
export function durationSeconds(text: string, option: string): number {
  const m = /^([1-9][0-9]*)([smhd])$/.exec(text)
  if (m === null) throw new UsageError(`${option} '${text}': expected a duration such as '90d', '12h', '30m' or '45s'`)
  return Number(m[1]) * UNIT_SECONDS[m[2]!]!
}
