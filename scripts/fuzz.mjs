// Runs the cargo-fuzz targets in fuzz/ (libFuzzer, nightly Rust), one after another.
//
//   npm run fuzz -- TARGET [--runs N] [--max-total-time S] [--asan] [--no-debug-assertions]
//   npm run fuzz -- all --runs 1000000     every target in turn
//   npm run fuzz -- list                   target names
//   npm run fuzz -- seed TARGET|all        refresh the corpus only
//
// Before a run the corpus fuzz/corpus/<target>/ (not committed) is seeded from the golden
// and interop fixtures, the policy examples, the generated seeds in fuzz/seeds/<target>/ and
// the crash inputs kept as regression tests (crates/*/tests/data/fuzz/<target>/). Each run is
// niced and single-process (the machine is shared). Targets build without a sanitizer by
// default: the workspace crates forbid `unsafe`, and most targets spend their time in signature
// checks that AddressSanitizer slows several-fold; `--asan` builds with it (for the unsafe code
// of dependencies). Debug assertions (overflow checks included) are on unless
// `--no-debug-assertions`: the ML-DSA code's own debug assertions make a signature check tens
// of times slower, which starves the targets that verify signatures. A crash stops the run
// with libFuzzer's artifact path; the summary prints executions and coverage (cov/ft) per
// target.
import { spawn, spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const interop = 'crates/kavach-pq/tests/data/interop'

// Fixture files per target; `lines: true` adds every line of the file as its own seed.
const SEEDS = {
  policy_json: [],
  policy_toml: [{ file: 'examples/policies/support.toml' }, { file: 'examples/policies/support.cases.toml' }],
  token_envelope: [{ file: `${interop}/envelope-hybrid.json` }, { file: `${interop}/envelope-pq-only.json` }],
  key_bundle: [{ file: `${interop}/bundle.json` }],
  signed_manifest: [{ file: `${interop}/manifest-signed.json` }, { file: `${interop}/manifest-unsigned.json` }],
  audit_line: [
    { file: `${interop}/audit-hybrid.jsonl`, lines: true },
    { file: `${interop}/audit-pq-only.jsonl`, lines: true },
  ],
  audit_chain: [{ file: `${interop}/audit-hybrid.jsonl` }, { file: `${interop}/audit-pq-only.jsonl` }],
  channel_message: [],
  key_export: [],
}
const TARGETS = Object.keys(SEEDS)

// Targets built without debug assertions even without `--no-debug-assertions`: nearly every
// input reaches ML-KEM and often ML-DSA, whose debug assertions would cap them at tens of
// inputs a second.
const RELEASE_ONLY = new Set(['channel_message'])

// Crash inputs kept as regression tests, by the crate whose parser they hit.
const REGRESSION_DIRS = ['crates/kavach-core/tests/data/fuzz', 'crates/kavach-pq/tests/data/fuzz']

function usage(message) {
  if (message) console.error(`fuzz: ${message}`)
  console.error('usage: npm run fuzz -- <target|all|list> [--runs N] [--max-total-time SECONDS] [--asan] [--no-debug-assertions]')
  console.error('       npm run fuzz -- seed <target|all>')
  console.error(`targets: ${TARGETS.join(', ')}`)
  process.exit(2)
}

function filesIn(dir) {
  const abs = join(root, dir)
  if (!existsSync(abs)) return []
  return readdirSync(abs)
    .map((name) => join(abs, name))
    .filter((p) => statSync(p).isFile())
}

/** Copy every seed of `target` into its corpus, named by content hash (duplicates collapse). */
function seed(target) {
  const corpus = join(root, 'fuzz/corpus', target)
  mkdirSync(corpus, { recursive: true })
  const inputs = []
  for (const { file, lines } of SEEDS[target]) {
    const bytes = readFileSync(join(root, file))
    inputs.push(bytes)
    if (lines) for (const line of bytes.toString('utf8').split('\n')) if (line.trim()) inputs.push(Buffer.from(line))
  }
  for (const p of filesIn(`fuzz/seeds/${target}`)) inputs.push(readFileSync(p))
  for (const dir of REGRESSION_DIRS) for (const p of filesIn(`${dir}/${target}`)) inputs.push(readFileSync(p))
  for (const bytes of inputs) {
    const name = createHash('sha1').update(bytes).digest('hex')
    writeFileSync(join(corpus, name), bytes)
  }
  console.log(`seeded ${relative(root, corpus)} with ${inputs.length} inputs (${readdirSync(corpus).length} files in corpus)`)
}

const host = () => spawnSync('rustc', ['+nightly', '-vV'], { encoding: 'utf8' }).stdout.match(/^host: (\S+)$/m)?.[1]

/** Build one target with cargo fuzz into fuzz/target/<sanitizer>/ (one directory per
 *  sanitizer, so switching does not rebuild everything). */
function build(target, sanitizer, debugAssertions) {
  const args = ['-n', '10', 'cargo', '+nightly', 'fuzz', 'build', '--fuzz-dir', 'fuzz', '-s', sanitizer]
  // cargo fuzz builds with debug assertions unless given -O (plain release).
  const dir = debugAssertions ? sanitizer : `${sanitizer}-release`
  if (!debugAssertions) args.push('-O')
  args.push('--target-dir', `fuzz/target/${dir}`, target)
  console.log(`$ nice ${args.join(' ')}`)
  const r = spawnSync('nice', args, { cwd: root, stdio: 'inherit' })
  if (r.status !== 0) throw new Error(`building ${target} failed (exit ${r.status})`)
  return join(root, 'fuzz/target', dir, host(), 'release', target)
}

/** Run one target; resolves with its executions, coverage and whether it crashed. */
function run(target, { runs, maxTotalTime, sanitizer, debugAssertions: wanted }) {
  const debugAssertions = wanted && !RELEASE_ONLY.has(target)
  seed(target)
  const binary = build(target, sanitizer, debugAssertions)
  const artifacts = join(root, 'fuzz/artifacts', target)
  mkdirSync(artifacts, { recursive: true })
  const args = ['-n', '10', binary, `-runs=${runs}`, '-print_final_stats=1', '-timeout=20', '-rss_limit_mb=2048']
  args.push(`-artifact_prefix=${artifacts}/`)
  if (maxTotalTime) args.push(`-max_total_time=${maxTotalTime}`)
  args.push(join(root, 'fuzz/corpus', target))
  console.log(`\n$ nice ${args.map((a) => a.replace(`${root}/`, '')).join(' ')}`)
  return new Promise((resolve) => {
    const child = spawn('nice', args, { cwd: root, stdio: ['ignore', 'inherit', 'pipe'] })
    let tail = ''
    child.stderr.on('data', (chunk) => {
      process.stderr.write(chunk)
      tail = (tail + chunk.toString()).slice(-64 * 1024)
    })
    child.on('close', (code) => {
      const stat = (name) => Number(tail.match(new RegExp(`stat::${name}:\\s+(\\d+)`))?.[1] ?? NaN)
      const progress = [...tail.matchAll(/#(\d+)\s+\w+\s+cov: (\d+) ft: (\d+)/g)].at(-1)
      resolve({
        target,
        sanitizer: debugAssertions ? sanitizer : `${sanitizer}, no debug assertions`,
        code,
        executions: stat('number_of_executed_units'),
        cov: Number(progress?.[2] ?? NaN),
        ft: Number(progress?.[3] ?? NaN),
        seconds: Number(tail.match(/Done \d+ runs in (\d+) second/)?.[1] ?? NaN),
        execPerSec: stat('average_exec_per_sec'),
        artifact: tail.match(/Test unit written to (\S+)/)?.[1],
      })
    })
  })
}

const argv = process.argv.slice(2)
const what = argv[0]
if (!what) usage()
if (what === 'list') {
  console.log(TARGETS.join('\n'))
  process.exit(0)
}
if (what === 'seed') {
  const t = argv[1]
  if (t !== 'all' && !TARGETS.includes(t)) usage(`unknown target '${t}'`)
  for (const target of t === 'all' ? TARGETS : [t]) seed(target)
  process.exit(0)
}
if (what !== 'all' && !TARGETS.includes(what)) usage(`unknown target '${what}'`)

const opts = { runs: 1_000_000, maxTotalTime: 0, sanitizer: 'none', debugAssertions: true }
for (let i = 1; i < argv.length; i++) {
  const flag = argv[i]
  if (flag === '--asan') {
    opts.sanitizer = 'address'
    continue
  }
  if (flag === '--no-debug-assertions') {
    opts.debugAssertions = false
    continue
  }
  const value = Number(argv[++i])
  if (!Number.isSafeInteger(value) || value < 0) usage(`${flag} needs a whole number, got '${argv[i]}'`)
  if (flag === '--runs') opts.runs = value
  else if (flag === '--max-total-time') opts.maxTotalTime = value
  else usage(`unknown option '${flag}'`)
}

const nightly = spawnSync('cargo', ['+nightly', 'fuzz', '--version'], { cwd: root, encoding: 'utf8' })
if (nightly.status !== 0) {
  console.error('fuzz: needs a nightly toolchain and cargo-fuzz: `rustup toolchain install nightly` and')
  console.error('      `cargo install cargo-fuzz --locked`')
  process.exit(2)
}

const results = []
for (const target of what === 'all' ? TARGETS : [what]) {
  const r = await run(target, opts)
  results.push(r)
  if (r.code !== 0) break
}

console.log('\n| target | sanitizer | executions | cov | ft | fuzzing s | exec/s | result |')
console.log('|---|---|---:|---:|---:|---:|---:|---|')
for (const r of results) {
  const result = r.code === 0 ? 'no crash' : `FAILED (exit ${r.code})${r.artifact ? `: ${r.artifact}` : ''}`
  console.log(`| ${r.target} | ${r.sanitizer} | ${r.executions} | ${r.cov} | ${r.ft} | ${r.seconds} | ${r.execPerSec} | ${result} |`)
}
process.exit(results.every((r) => r.code === 0) ? 0 : 1)
