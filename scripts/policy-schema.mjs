// policy.schema.json: the policy language as JSON Schema, generated from the zod schema
// (dist/src/schema.js, so `npm run build:ts` runs first). `node scripts/policy-schema.mjs`
// rewrites the committed file; scripts/check-generated.mjs fails when it is out of date.
import { readFileSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
export const schemaPath = join(root, 'policy.schema.json')

/** The file's expected text, from the built zod schema. */
export function renderPolicySchema() {
  const { policyJsonSchema } = createRequire(import.meta.url)(join(root, 'dist/src/schema.js'))
  const schema = { ...policyJsonSchema(), title: 'kavach-sdk policy set' }
  return `${JSON.stringify(schema, null, 2)}\n`
}

/** Whether the committed file equals what the schema generates now. */
export function policySchemaIsCurrent() {
  return readFileSync(schemaPath, 'utf8') === renderPolicySchema()
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(schemaPath, renderPolicySchema())
  console.log(`wrote ${schemaPath}`)
}
