#!/usr/bin/env node
// `kavach`: the operator CLI. This file only declares the commands; each command's code (and
// the native addon) is imported when that command runs, so `--help` and usage errors start in
// milliseconds.
//
// Exit codes (stable): 0 ok, 1 findings / refusal / invalid input, 2 usage error.

import { Command, CommanderError, Option } from 'commander'

import { ERROR_CODE, EXIT_USAGE, USAGE_CODE, reportError, runCommand, writeJsonError } from './exit.js'

const program = new Command('kavach')
  .description('Kavach gate tooling: check, lint, explain and test policies; keys; audit chains')
  .version(readVersion(), '-V, --version')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride()

/** `--json` on every command: machine-readable output on stdout. */
const json = (): Option => new Option('--json', 'print machine-readable JSON on stdout')

program
  .command('check')
  .description('load each policy file (TOML or JSON) and report every error with its location')
  .argument('<files...>', 'policy files')
  .addOption(json())
  .action(runCommand(() => import('./check.js')))

program
  .command('lint')
  .description('static analysis: shadowed or dead policies, empty ranges, windows that never open, rate limits that never bind, overlaps, deny lists')
  .argument('<files...>', 'policy files (merged into one set, in order)')
  .option('--actions <names>', 'comma-separated known actions: report those no policy names')
  .addOption(json())
  .action(runCommand(() => import('./lint.js')))

program
  .command('explain')
  .description('evaluate a context without changing any state and print the trace')
  .argument('<file>', 'policy file')
  .requiredOption('--context <ctx.json>', 'the context (JSON, the shape gate.evaluate takes)')
  .option('--now <iso>', 'evaluate at this time (an ISO 8601 date-time; UTC without an offset) instead of now')
  .addOption(json())
  .action(runCommand(() => import('./explain.js')))

program
  .command('convert')
  .description('convert a policy file between TOML and JSON (validated before and after)')
  .argument('<file>', 'policy file')
  .addOption(new Option('--to <format>', 'output format').choices(['toml', 'json']).makeOptionMandatory())
  .option('--out <file>', 'write here instead of stdout')
  .addOption(json())
  .action(runCommand(() => import('./convert.js')))

program
  .command('keygen')
  .description('generate a key pair: its secret export and its public bundle')
  .requiredOption('--out <dir>', 'directory for <id>.secret and <id>.public.json')
  .option('--passphrase-env <var>', 'encrypt the secret export with the passphrase in this environment variable')
  .option('--expires-in <duration>', "key lifetime such as '90d', '12h' (default: no expiry)")
  .addOption(json())
  .action(runCommand(() => import('./keygen.js')))

const manifest = program.command('manifest').description('public-key manifests')
manifest
  .command('sign')
  .description('build a root-signed manifest of public-key bundles')
  .requiredOption('--root <key>', 'the root key (a secret export from `kavach keygen`)')
  .requiredOption('--bundles <files...>', 'public bundles (.public.json)')
  .option('--passphrase-env <var>', 'environment variable holding the root key passphrase')
  .option('--out <file>', 'write here instead of stdout')
  .addOption(json())
  .action(runCommand(() => import('./manifest-sign.js')))

const audit = program.command('audit').description('signed audit chains')
audit
  .command('verify')
  .description('verify a JSONL audit chain; names the first bad entry')
  .argument('<chain>', 'the chain (JSONL)')
  .requiredOption('--bundle <file>', 'public bundle of the signing key')
  .option('--checkpoint <file>', 'a signed checkpoint the chain must reach')
  .option('--pq-only', 'the chain was written PQ-only (ML-DSA-65 alone); without it every entry must be hybrid')
  .addOption(json())
  .action(runCommand(() => import('./audit-verify.js')))
audit
  .command('report')
  .description('write a self-contained HTML report: status, verdicts over time, top refusals, searchable entries')
  .argument('<chain>', 'the chain (JSONL)')
  .requiredOption('--out <file>', 'the HTML file to write')
  .option('--bundle <file>', 'public bundle: verify the chain and show the result')
  .option('--pq-only', 'with --bundle: the chain was written PQ-only; without it every entry must be hybrid')
  .addOption(json())
  .action(runCommand(() => import('./audit-report.js')))

program
  .command('test')
  .description('policy unit tests: run cases against policy files (like `opa test`)')
  .argument('<policies...>', 'policy files (merged into one set, in order)')
  .requiredOption('--cases <file>', 'cases file (TOML or JSON)')
  .option('--junit <file>', 'also write JUnit XML here')
  .addOption(json())
  .action(runCommand(() => import('./test-cases.js')))

/** `--json` among the options (before a `--` that ends them). */
function wantsJson(argv: string[]): boolean {
  const end = argv.indexOf('--')
  return (end < 0 ? argv : argv.slice(0, end)).includes('--json')
}

/** The package's version: the nearest package.json above this file (dist/src/cli or src/cli). */
function readVersion(): string {
  for (const up of ['../../../package.json', '../../package.json']) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const pkg = require(up) as { name?: string; version?: string }
      if (pkg.name === 'kavach-sdk' && pkg.version !== undefined) return pkg.version
    } catch {
      // not at this level
    }
  }
  return 'unknown'
}

program.parseAsync(process.argv).catch((e: unknown) => {
  if (e instanceof CommanderError) {
    // --help and --version exit 0; every parse error is a usage error (commander has printed
    // it on stderr; with --json it is also reported on stdout).
    process.exitCode = e.exitCode === 0 ? 0 : EXIT_USAGE
    if (e.exitCode !== 0 && wantsJson(process.argv)) {
      writeJsonError(USAGE_CODE, e.message.replace(/^error: /, ''))
    }
    return
  }
  reportError(ERROR_CODE, e instanceof Error ? e.message : String(e), wantsJson(process.argv))
  process.exitCode = 1
})
