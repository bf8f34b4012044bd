// `npm version` hook, after `napi version` has bumped packages/*/package.json: the main
// package's optionalDependencies and their lockfile entries follow to the new version, so the
// tagged commit passes `npm ci` and the packaging test before `napi pre-publish` publishes the
// platform packages (npm writes no lockfile entry for a package the registry does not have yet).
import { readFileSync, writeFileSync } from 'node:fs'

const readJson = (path) => JSON.parse(readFileSync(path, 'utf8'))
const writeJson = (path, value) => writeFileSync(path, `${JSON.stringify(value, null, 2)}\n`)

const manifest = readJson('package.json')
const lock = readJson('package-lock.json')
const names = Object.keys(manifest.optionalDependencies ?? {})
for (const name of names) {
  manifest.optionalDependencies[name] = manifest.version
  lock.packages[''].optionalDependencies[name] = manifest.version
  const entry = lock.packages[`node_modules/${name}`]
  if (entry === undefined) throw new Error(`package-lock.json has no entry for ${name}`)
  entry.version = manifest.version
}
writeJson('package.json', manifest)
writeJson('package-lock.json', lock)
console.log(`optionalDependencies: ${names.length} platform packages at ${manifest.version}`)
