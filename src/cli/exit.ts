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
    try {
      const mod = await load()
      process.exitCode = await (mod.run as (...a: unknown[]) => Promise<number> | number)(...args)
    } catch (e) {
      const usage = e instanceof UsageError
      const code = (e as { code?: unknown }).code
      const label = typeof code === 'string' && !usage ? ` [${code}]` : ''
      process.stderr.write(`kavach${label}: ${e instanceof Error ? e.message : String(e)}\n`)
      process.exitCode = usage ? EXIT_USAGE : EXIT_FINDINGS
    }
  }
}
