// Exit codes and the one place a command's outcome becomes one.

/** Everything fine: the files load, the chain verifies, every case passed. */
export const EXIT_OK = 0
/** Findings, a refusal, a failing case, an invalid file or chain. */
export const EXIT_FINDINGS = 1
/** The command line itself is wrong (missing option, unknown command, unset variable). */
export const EXIT_USAGE = 2

/** A problem with how the command was called: printed without a stack, exits 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError'
}

/** What every command module exports: its action, returning the exit code. */
export interface CommandModule {
  run(...args: never[]): Promise<number> | number
}

/**
 * A commander action that imports the command's module only when the command runs (the
 * CLI's start-up cost stays that of commander) and turns its result into the exit code.
 */
export function runCommand(load: () => Promise<CommandModule>): (...args: unknown[]) => Promise<void> {
  return async (...args: unknown[]) => {
    // commander passes the positional arguments, then the options object, then the command.
    const json = (args.at(-2) as { json?: boolean } | undefined)?.json === true
    try {
      const mod = await load()
      process.exitCode = await (mod.run as (...a: unknown[]) => Promise<number> | number)(...args)
    } catch (e) {
      const usage = e instanceof UsageError
      const code = (e as { code?: unknown }).code
      const message = e instanceof Error ? e.message : String(e)
      reportError(usage ? USAGE_CODE : typeof code === 'string' ? code : ERROR_CODE, message, json)
      process.exitCode = usage ? EXIT_USAGE : EXIT_FINDINGS
    }
  }
}

/** `error.code` of a usage error in `--json` output. */
export const USAGE_CODE = 'USAGE'
/** `error.code` of a failure that carries no code of its own (a missing file, say). */
export const ERROR_CODE = 'ERROR'

/**
 * A command that could not run: `kavach [CODE]: message` on stderr, and with `--json` also
 * `{ "ok": false, "error": { "code", "message" } }` on stdout, so scripts parse every outcome.
 */
export function reportError(code: string, message: string, json: boolean): void {
  const label = code === USAGE_CODE || code === ERROR_CODE ? '' : ` [${code}]`
  process.stderr.write(`kavach${label}: ${message}\n`)
  if (json) writeJsonError(code, message)
}

/** The `--json` form of a command that could not run. */
export function writeJsonError(code: string, message: string): void {
  process.stdout.write(`${JSON.stringify({ ok: false, error: { code, message } }, null, 2)}\n`)
}
