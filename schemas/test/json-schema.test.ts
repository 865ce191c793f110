import { readdirSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { jsonSchemas } from '../src/index.js'

const dir = fileURLToPath(new URL('../../docs/schemas/', import.meta.url))

describe('JSON Schema export', () => {
  it('docs/schemas/ matches the zod schemas (run `npm run schemas:export` after changing a schema)', () => {
    const schemas = jsonSchemas()
    const files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort()
    expect(files).toEqual(Object.keys(schemas).map((n) => `${n}.json`).sort())
    for (const [name, schema] of Object.entries(schemas)) {
      expect(JSON.parse(readFileSync(`${dir}/${name}.json`, 'utf8')), name).toEqual(schema)
    }
  })

  it('describes the graph with its required fields and limits', () => {
    const graph = jsonSchemas()['graph'] as { required: string[]; properties: { ops: { maxItems: number } } }
    expect(graph.required).toEqual(expect.arrayContaining(['requester', 'nonce', 'ops']))
    expect(graph.properties.ops.maxItems).toBe(10_000)
  })
})
