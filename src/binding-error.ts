// Why the native addon did not load, in words a user can act on. The napi loader (binding.js at
// the package root) throws "Cannot find native binding" with one cause per place it looked: the
// first names a WASI build that is not shipped, and the one that says what went wrong (the
// platform package is not installed, its file is no library for this machine) is several causes
// deep, where a CLI's one-line report never shows it. dist/binding.js (written by
// scripts/finish-dist.mjs) rethrows a load failure through `bindingLoadError`.

import { readFileSync } from 'node:fs'
import { join } from 'node:path'

/**
 * Whether this Linux runs on musl (Alpine), as the napi loader tells: `ldd` names its libc; else
 * Node's report (a few milliseconds) names a glibc only where there is one.
 */
function isMusl(): boolean {
  try {
    return readFileSync('/usr/bin/ldd', 'utf8').includes('musl')
  } catch {
    const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined
    return report?.header?.glibcVersionRuntime === undefined
  }
}

/** The platform package the loader looks for on this machine (`kavach-sdk-linux-x64-gnu`). */
export function platformPackage(): string {
  const { platform, arch } = process
  const abi = platform === 'linux' ? (isMusl() ? '-musl' : '-gnu') : platform === 'win32' ? '-msvc' : ''
  return `kavach-sdk-${platform}-${arch}${abi}`
}

/** This package's version: its platform package must be the same. */
function version(): string {
  try {
    return (JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }).version
  } catch {
    return 'the same version as kavach-sdk'
  }
}

/**
 * Throws when the installed platform package is of another version than this package: the
 * loader takes any version, and an older addon fails later, far from the cause (a function the
 * TS layer calls is missing). A checkout's local build has no platform package to compare.
 */
export function checkPlatformVersion(): void {
  const pkg = platformPackage()
  let theirs: unknown
  try {
    theirs = (require(`${pkg}/package.json`) as { version?: unknown }).version
  } catch {
    return
  }
  const ours = version()
  if (theirs !== ours) {
    throw new Error(
      `kavach-sdk ${ours} found its native addon in ${pkg}@${String(theirs)}: install ${pkg}@${ours} (the two are released together, and only the same version fits)`,
    )
  }
}

/** The messages of `e` and its causes, outermost first. */
function causes(e: unknown): string[] {
  const out: string[] = []
  for (let c: unknown = e; c instanceof Error && out.length < 16; c = c.cause) out.push(c.message)
  return out
}

/**
 * The error to throw for the loader's `e`: names the platform, the package and version to
 * install, and the deepest cause that is not a module merely not found (an ELF header that is
 * not this machine's, a missing system library); `e` is its `cause`.
 */
export function bindingLoadError(e: unknown): Error {
  const pkg = platformPackage()
  const failure = causes(e)
    .reverse()
    .find((m) => !/^Cannot find (module|native binding)/.test(m))
  const what = failure === undefined ? `${pkg} is not installed` : `loading it failed: ${failure.split('\n')[0]}`
  return new Error(
    `kavach-sdk cannot load its native addon for ${process.platform}-${process.arch}: ${what}. ` +
      `The addon ships in the platform package ${pkg}@${version()}, which npm installs as an optional dependency ` +
      '(not with --omit=optional or --no-optional); the supported platforms are listed in docs/INSTALL.md of the kavach-sdk repository.',
    { cause: e },
  )
}
