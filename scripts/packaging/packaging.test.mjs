// The package as a registry user gets it: `npm pack` the main package and the linux-x64-gnu
// platform package (the release .node that `npm run build` just made copied in), install both
// tarballs into a fresh project outside the repository with no Rust toolchain on PATH, then run
// an ESM and a CommonJS consumer there. Run by `npm test` right after `npm run build` (not by
// vitest: it must see the release addon, and it needs no CPU the other suites share).
import assert from 'node:assert/strict'
import { execFileSync, spawnSync } from 'node:child_process'
import { chmodSync, closeSync, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'

import { elfSectionNames } from './elf-sections.mjs'

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const manifest = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8'))
const PLATFORM = 'linux-x64-gnu'
const addonName = `${manifest.napi.binaryName}.${PLATFORM}.node`
const MiB = 1024 * 1024
/** README "Install" states this budget for the unpacked release .node. */
const ADDON_BUDGET = 8 * MiB
/** Anything that compiles: a consumer's install must never reach one of these. */
const COMPILERS = ['cargo', 'rustc', 'rustup', 'napi', 'node-gyp', 'cc', 'gcc', 'c++', 'g++', 'make']
/**
 * Lifecycle scripts print in the log (`--foreground-scripts`), and so does every registry
 * request (`http`). Dependencies come from npm's cache when it has them; the platform packages
 * of other systems are looked up and skipped (optional), without long retries when offline.
 */
const INSTALL_FLAGS = [
  '--no-audit',
  '--no-fund',
  '--prefer-offline',
  '--foreground-scripts',
  '--loglevel=http',
  '--fetch-retries=1',
  '--fetch-retry-mintimeout=500',
  '--fetch-retry-maxtimeout=1000',
]

const work = mkdtempSync(join(tmpdir(), 'kavach-packaging-'))
const app = join(work, 'app')
const shims = join(work, 'shims')
const compileLog = join(work, 'compile-attempts.log')

/** `npm pack --json` in `dir`, tarball into the work dir; returns the tarball's name and file list. */
function pack(dir) {
  const out = execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', work], { cwd: dir, encoding: 'utf8' })
  const [info] = JSON.parse(out)
  return { filename: info.filename, size: info.size, files: new Set(info.files.map((f) => f.path)) }
}

/**
 * The environment of a machine that has only Node: PATH is node's own directory plus the
 * system's, behind shims that record any compiler call and fail it; nothing points back at
 * the repository (npm's per-run variables, INIT_CWD, NODE_PATH) or at a Rust toolchain.
 */
function consumerEnv() {
  const env = {}
  for (const [key, value] of Object.entries(process.env)) {
    const npmRun = key.startsWith('npm_') && !['npm_config_cache', 'npm_config_registry', 'npm_config_userconfig'].includes(key)
    if (npmRun || /^(INIT_CWD|NODE_PATH|NODE_OPTIONS|CARGO.*|RUSTUP.*|RUSTC.*|NAPI_RS_.*)$/.test(key)) continue
    env[key] = value
  }
  env.PATH = [shims, dirname(process.execPath), '/usr/local/bin', '/usr/bin', '/bin'].join(':')
  return env
}

/** Every file the manifest points at (entry points, types, export targets, bins). */
function entryFiles(pkg) {
  const targets = [pkg.main, pkg.module, pkg.types]
  const walk = (node) => (typeof node === 'string' ? targets.push(node) : Object.values(node ?? {}).forEach(walk))
  walk(pkg.exports)
  walk(typeof pkg.bin === 'string' ? { bin: pkg.bin } : pkg.bin)
  return [...new Set(targets.filter(Boolean).map((p) => p.replace(/^\.\//, '')))]
}

describe('packed tarballs install and run without a Rust toolchain', () => {
  let main
  let platform

  before(() => {
    mkdirSync(shims)
    for (const tool of COMPILERS) {
      const shim = join(shims, tool)
      writeFileSync(shim, `#!/bin/sh\necho "${tool} $*" >> '${compileLog}'\nexit 1\n`)
      chmodSync(shim, 0o755)
    }
  })

  after(() => rmSync(work, { recursive: true, force: true }))

  test(`the release ${addonName} is stripped and within the size budget`, () => {
    assert.equal(`${process.platform}-${process.arch}`, 'linux-x64', 'the packaging test packs the linux-x64-gnu binary')
    const addon = join(repo, addonName)
    assert.ok(existsSync(addon), `${addonName} missing: run \`npm run build\` first`)
    assert.ok(!elfSectionNames(addon).includes('.symtab'), `${addonName} still has its symbol table (profile.release strip)`)
    const size = statSync(addon).size
    console.log(`unpacked ${addonName}: ${(size / MiB).toFixed(2)} MiB (${size} bytes)`)
    assert.ok(size < ADDON_BUDGET, `${addonName} is ${size} bytes, over the ${ADDON_BUDGET} budget`)
  })

  test('the main package lists every platform package at its own version', () => {
    const expected = Object.fromEntries(
      ['linux-x64-gnu', 'linux-arm64-gnu', 'linux-x64-musl', 'darwin-x64', 'darwin-arm64', 'win32-x64-msvc'].map((p) => [`${manifest.name}-${p}`, manifest.version]),
    )
    assert.deepEqual(manifest.optionalDependencies, expected)
    for (const name of Object.keys(expected)) {
      const dir = join(repo, 'packages', name.slice(manifest.name.length + 1))
      const platformManifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'))
      assert.equal(platformManifest.name, name)
      assert.equal(platformManifest.version, manifest.version, `${name} version`)
      assert.ok(platformManifest.os?.length && platformManifest.cpu?.length, `${name} declares os and cpu`)
    }
  })

  test('the release workflow builds every napi target and publishes with napi\'s own commands', () => {
    // js-yaml comes with @napi-rs/cli, which reads workflow files itself.
    const cliRequire = createRequire(createRequire(import.meta.url).resolve('@napi-rs/cli/package.json'))
    const text = readFileSync(join(repo, '.github', 'workflows', 'release.yml'), 'utf8')
    const workflow = cliRequire('js-yaml').load(text)
    const built = workflow.jobs.build.strategy.matrix.settings.map((s) => s.target)
    assert.deepEqual([...built].sort(), [...manifest.napi.targets].sort())
    const publish = workflow.jobs.publish.steps.map((step) => step.run ?? '').join('\n')
    for (const command of ['npm run artifacts', 'npm run test:packaging', 'napi pre-publish', 'npm publish --access public --provenance']) {
      assert.ok(publish.includes(command), `the publish job runs \`${command}\``)
    }
    assert.equal(workflow.jobs.publish.permissions['id-token'], 'write', 'provenance needs an OIDC token')
  })

  test('npm pack: the main tarball has what its entry points need and no binary or TS source', () => {
    main = pack(repo)
    const missing = [...entryFiles(manifest), 'binding.js', 'binding.d.ts', 'dist/binding.js', 'dist/src/binding-error.js', 'package.json', 'LICENSE'].filter((f) => !main.files.has(f))
    assert.deepEqual(missing, [], 'files the package points at are missing from the tarball')
    const unwanted = [...main.files].filter((f) => f.endsWith('.node') || (f.endsWith('.ts') && !f.endsWith('.d.ts') && !f.endsWith('.d.mts')))
    assert.deepEqual(unwanted, [], 'binaries belong in the platform packages; TS sources are not shipped')
    console.log(`${main.filename}: ${(main.size / 1024).toFixed(1)} KiB packed, ${main.files.size} files`)
  })

  test(`npm pack: the ${PLATFORM} package carries the release binary`, () => {
    const dir = join(work, `platform-${PLATFORM}`)
    cpSync(join(repo, 'packages', PLATFORM), dir, { recursive: true })
    copyFileSync(join(repo, addonName), join(dir, addonName))
    platform = pack(dir)
    assert.ok(platform.files.has(addonName), `${addonName} missing from ${platform.filename}`)
    assert.ok(platform.files.has('LICENSE'), `LICENSE missing from ${platform.filename}`)
    console.log(`${platform.filename}: ${(platform.size / MiB).toFixed(2)} MiB packed`)
  })

  test('a fresh project installs both tarballs without compiling anything', () => {
    mkdirSync(app)
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'fresh-consumer', version: '1.0.0', private: true }, null, 2))
    for (const file of ['exercise.cjs', 'smoke.mjs', 'smoke.cjs']) copyFileSync(join(repo, 'scripts', 'packaging', 'app', file), join(app, file))
    // stdout and stderr into one file, so the log keeps npm's own order.
    const logPath = join(work, 'install.log')
    const logFd = openSync(logPath, 'w')
    const install = spawnSync('npm', ['install', ...INSTALL_FLAGS, `../${main.filename}`, `../${platform.filename}`], {
      cwd: app,
      env: consumerEnv(),
      stdio: ['ignore', logFd, logFd],
    })
    closeSync(logFd)
    const log = readFileSync(logPath, 'utf8')
    console.log(`--- npm install log (fresh project)\n${log}---`)
    assert.ok(!existsSync(compileLog), `the install tried to compile:\n${existsSync(compileLog) ? readFileSync(compileLog, 'utf8') : ''}`)
    assert.equal(install.status, 0, 'npm install failed (log above)')
    const installed = join(app, 'node_modules', manifest.name)
    assert.ok(existsSync(join(app, 'node_modules', `${manifest.name}-${PLATFORM}`, addonName)))
    assert.ok(!existsSync(join(installed, 'target')) && !existsSync(join(installed, addonName)), 'nothing was built inside the installed package')
  })

  for (const script of ['smoke.mjs', 'smoke.cjs']) {
    test(`${script}: evaluate, sign and verify a permit, append to an audit chain`, () => {
      const out = execFileSync(process.execPath, [script], { cwd: app, env: consumerEnv(), encoding: 'utf8' })
      console.log(`--- node ${script}\n${out}---`)
      const result = JSON.parse(out.trim().split('\n').at(-1))
      assert.deepEqual(
        { ...result, addon: undefined, signatureBytes: undefined },
        { flavor: script.endsWith('.mjs') ? 'esm' : 'cjs', permit: 'permit', refuse: 'NO_POLICY_MATCH', forgedCode: 'SIGNATURE_INVALID', auditEntries: 2, addon: undefined, signatureBytes: undefined },
      )
      assert.ok(result.signatureBytes > 0)
      assert.equal(result.addon, join(app, 'node_modules', `${manifest.name}-${PLATFORM}`, addonName), 'the binary came from the platform package')
      assert.ok(!existsSync(compileLog), 'running the consumer tried to compile')
    })
  }

  // A bin's runtime imports must be dependencies of the package, not devDependencies.
  const bins = typeof manifest.bin === 'string' ? { [manifest.name]: manifest.bin } : (manifest.bin ?? {})
  for (const bin of Object.keys(bins)) {
    test(`the installed \`${bin}\` command starts`, () => {
      const out = execFileSync(join(app, 'node_modules', '.bin', bin), ['--version'], { cwd: app, env: consumerEnv(), encoding: 'utf8' })
      console.log(`--- ${bin} --version\n${out}---`)
      assert.equal(out.trim(), manifest.version)
    })
  }

  /** What `require(kavach-sdk)` and the CLI print when the addon does not load. */
  function loadFailure() {
    const required = spawnSync(process.execPath, ['-e', `require('${manifest.name}')`], { cwd: app, env: consumerEnv(), encoding: 'utf8' })
    const cli = spawnSync(join(app, 'node_modules', '.bin', 'kavach'), ['check', 'policies.toml'], { cwd: app, env: consumerEnv(), encoding: 'utf8' })
    assert.notEqual(required.status, 0)
    assert.notEqual(cli.status, 0)
    return { required: required.stderr, cli: cli.stderr }
  }
  const platformPackage = `${manifest.name}-${PLATFORM}`
  const escaped = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  const advice = new RegExp(`The addon ships in the platform package ${escaped(platformPackage)}@${escaped(manifest.version)}, which npm installs as an optional dependency`)

  test('without its platform package, require and the CLI name the package and version to install', () => {
    const dir = join(app, 'node_modules', platformPackage)
    renameSync(dir, `${dir}.aside`)
    try {
      const { required, cli } = loadFailure()
      for (const text of [required, cli]) {
        assert.match(text, new RegExp(`kavach-sdk cannot load its native addon for linux-x64: ${escaped(platformPackage)} is not installed\\.`))
        assert.match(text, advice)
      }
    } finally {
      renameSync(`${dir}.aside`, dir)
    }
  })

  test('a platform package of another version is refused at load, naming both versions', () => {
    const file = join(app, 'node_modules', platformPackage, 'package.json')
    const saved = readFileSync(file, 'utf8')
    writeFileSync(file, JSON.stringify({ ...JSON.parse(saved), version: '0.0.9' }, null, 2))
    try {
      const { required, cli } = loadFailure()
      const want = new RegExp(`kavach-sdk ${escaped(manifest.version)} found its native addon in ${escaped(platformPackage)}@0\\.0\\.9: install ${escaped(platformPackage)}@${escaped(manifest.version)}`)
      for (const text of [required, cli]) assert.match(text, want)
    } finally {
      writeFileSync(file, saved)
    }
  })

  test("a platform package whose file is no library for this machine: the loader's reason is named", () => {
    const file = join(app, 'node_modules', platformPackage, addonName)
    const saved = readFileSync(file)
    writeFileSync(file, 'not a shared library\n'.repeat(100))
    try {
      const { required, cli } = loadFailure()
      for (const text of [required, cli]) {
        assert.match(text, /kavach-sdk cannot load its native addon for linux-x64: loading it failed: .*invalid ELF header/)
        assert.match(text, advice)
      }
    } finally {
      writeFileSync(file, saved)
    }
  })
})
