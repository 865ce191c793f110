// Writes docs/schemas/<name>.json from the zod schemas (run after the build: npm run schemas:export).
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { jsonSchemas } from '../dist/index.js'

const out = fileURLToPath(new URL('../../docs/schemas/', import.meta.url))
mkdirSync(out, { recursive: true })
for (const f of readdirSync(out)) if (f.endsWith('.json')) rmSync(join(out, f))
const schemas = jsonSchemas()
for (const [name, schema] of Object.entries(schemas)) writeFileSync(join(out, `${name}.json`), `${JSON.stringify(schema, null, 2)}\n`)
console.log(`wrote ${Object.keys(schemas).length} JSON Schemas to ${out}`)
