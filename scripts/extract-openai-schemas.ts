// Generates simulator/openapi-extract.json from OpenAI's official OpenAPI description.
//
//   node scripts/extract-openai-schemas.ts [path/to/openapi.json]
//
// The source defaults to ../shared/openai/openapi.json (relative to the repo root), which is not part
// of a clone; the extract is committed so the simulator never needs it. The output keeps only the
// operations the simulator serves and the component schemas they reach, with documentation noise
// removed and `oneOf` rewritten as `anyOf` (the spec's oneOf branches overlap). Output is
// deterministic: the same input always yields the same bytes.
import { createHash } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

type Json = null | boolean | number | string | Json[] | { [key: string]: Json }
type JsonObject = { [key: string]: Json }

export const SERVED_OPERATIONS = [
  'createConversation',
  'getConversation',
  'updateConversation',
  'deleteConversation',
  'createConversationItems',
  'listConversationItems',
  'getConversationItem',
  'deleteConversationItem',
  'createResponse',
  'getResponse',
  'deleteResponse',
  'cancelResponse',
  'listInputItems',
  'createTranscription',
  'createFile',
  'listFiles',
  'retrieveFile',
  'deleteFile'
]

// Schemas the tests use to check the simulator's own error bodies.
const EXTRA_SCHEMAS = ['ErrorResponse']

// Annotations only: dropping them changes no validation outcome.
const NOISE = new Set([
  'description', 'title', 'example', 'examples', 'summary', 'deprecated', 'externalDocs',
  'discriminator', '$recursiveAnchor', '$comment', 'optional'
])

// Keywords whose value is a map of name → schema.
const SCHEMA_MAPS = new Set(['properties', 'patternProperties', '$defs', 'definitions', 'dependentSchemas'])
// Keywords whose value is a schema.
const SCHEMA_VALUES = new Set([
  'items', 'additionalProperties', 'not', 'if', 'then', 'else', 'contains', 'propertyNames',
  'unevaluatedProperties', 'unevaluatedItems', 'additionalItems'
])
// Keywords whose value is an array of schemas.
const SCHEMA_ARRAYS = new Set(['allOf', 'anyOf', 'oneOf', 'prefixItems'])

const REF_PREFIX = '#/components/schemas/'

function isObject (value: Json | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

export function extract (spec: JsonObject, sourceBytes: Buffer | string): JsonObject {
  const components = (spec.components as JsonObject).schemas as JsonObject
  const needed = new Set<string>()
  const queue: string[] = []
  const want = (name: string) => {
    if (!(name in components)) throw new Error(`schema ${name} is referenced but missing`)
    if (!needed.has(name)) { needed.add(name); queue.push(name) }
  }

  // `current` is the component being rewritten, for `$recursiveRef: '#'` (2019-09 syntax in the spec).
  function schema (node: Json, current: string | null): Json {
    if (Array.isArray(node)) return node.map((n) => schema(n, current))
    if (!isObject(node)) return node
    const out: JsonObject = {}
    for (const [key, value] of Object.entries(node)) {
      if (NOISE.has(key) || key.startsWith('x-')) continue
      if (key === '$ref' && typeof value === 'string') {
        if (!value.startsWith(REF_PREFIX)) throw new Error(`unsupported $ref ${value}`)
        const name = value.slice(REF_PREFIX.length)
        want(name)
        out.$ref = `#/$defs/${name}`
      } else if (key === '$recursiveRef') {
        if (value !== '#' || current === null) throw new Error(`unsupported $recursiveRef in ${current}`)
        out.$ref = `#/$defs/${current}`
      } else if (SCHEMA_MAPS.has(key) && isObject(value)) {
        const map: JsonObject = {}
        for (const [name, sub] of Object.entries(value)) map[name] = schema(sub, current)
        out[key] = map
      } else if (SCHEMA_VALUES.has(key) && (isObject(value) || typeof value === 'boolean')) {
        out[key] = schema(value, current)
      } else if (SCHEMA_ARRAYS.has(key) && Array.isArray(value)) {
        const branches = value.map((n) => schema(n, current))
        if (key === 'oneOf' && 'anyOf' in node) throw new Error(`${current}: both oneOf and anyOf`)
        out[key === 'oneOf' ? 'anyOf' : key] = branches
      } else {
        out[key] = value
      }
    }
    return out
  }

  function parameterSchemas (parameters: Json[]): JsonObject {
    const byLocation: Record<string, { properties: JsonObject, required: string[] }> = {}
    for (const p of parameters) {
      if (!isObject(p)) continue
      if ('$ref' in p) throw new Error('parameter $ref is not supported')
      const where = String(p.in)
      byLocation[where] ??= { properties: {}, required: [] }
      byLocation[where].properties[String(p.name)] = schema(p.schema ?? {}, null)
      if (p.required === true) byLocation[where].required.push(String(p.name))
    }
    const out: JsonObject = {}
    for (const where of Object.keys(byLocation).sort()) {
      const { properties, required } = byLocation[where]
      out[where] = { type: 'object', properties, required }
    }
    return out
  }

  const operations: JsonObject = {}
  const paths = spec.paths as JsonObject
  for (const path of Object.keys(paths)) {
    if (path.includes('?')) continue // the `?beta=true` duplicates
    const item = paths[path] as JsonObject
    for (const [method, op] of Object.entries(item)) {
      if (!isObject(op) || typeof op.operationId !== 'string') continue
      if (!SERVED_OPERATIONS.includes(op.operationId)) continue
      const params = [...((item.parameters as Json[] | undefined) ?? []), ...((op.parameters as Json[] | undefined) ?? [])]
      const entry: JsonObject = { method: method.toUpperCase(), path: `/v1${path}`, parameters: parameterSchemas(params) }
      const body = op.requestBody as JsonObject | undefined
      if (body) {
        const content = body.content as JsonObject
        const types = Object.keys(content)
        if (types.length !== 1) throw new Error(`${op.operationId}: expected one request content type`)
        entry.requestBody = {
          required: body.required === true,
          contentType: types[0],
          schema: schema((content[types[0]] as JsonObject).schema, null)
        }
      }
      const responses: JsonObject = {}
      for (const [status, response] of Object.entries((op.responses as JsonObject | undefined) ?? {})) {
        if (!/^2\d\d$/.test(status) || !isObject(response) || !isObject(response.content)) continue
        const content: JsonObject = {}
        for (const type of Object.keys(response.content).sort()) {
          content[type] = schema((response.content[type] as JsonObject).schema ?? {}, null)
        }
        responses[status] = content
      }
      entry.responses = responses
      operations[op.operationId] = entry
    }
  }
  const missing = SERVED_OPERATIONS.filter((id) => !(id in operations))
  if (missing.length > 0) throw new Error(`operations not found: ${missing.join(', ')}`)

  for (const name of EXTRA_SCHEMAS) want(name)
  const defs: JsonObject = {}
  while (queue.length > 0) {
    const name = queue.shift() as string
    defs[name] = schema(components[name], name)
  }
  const sortedDefs: JsonObject = {}
  for (const name of Object.keys(defs).sort()) sortedDefs[name] = defs[name]
  const sortedOps: JsonObject = {}
  for (const id of Object.keys(operations).sort()) sortedOps[id] = operations[id]

  const info = spec.info as JsonObject
  return {
    $comment: 'Generated by scripts/extract-openai-schemas.ts from OpenAI\'s OpenAPI description (MIT). Do not edit.',
    source: {
      openapi: spec.openapi,
      version: info.version,
      sha256: createHash('sha256').update(sourceBytes).digest('hex')
    },
    operations: sortedOps,
    $defs: sortedDefs
  }
}

function main () {
  const root = fileURLToPath(new URL('..', import.meta.url))
  const source = process.argv[2] ?? process.env.OPENAI_OPENAPI ?? `${root}../shared/openai/openapi.json`
  const target = `${root}simulator/openapi-extract.json`
  const bytes = readFileSync(source)
  const result = extract(JSON.parse(bytes.toString('utf8')) as JsonObject, bytes)
  writeFileSync(target, JSON.stringify(result, null, 1) + '\n')
  const count = Object.keys(result.$defs as JsonObject).length
  process.stdout.write(`wrote ${target}: ${Object.keys(result.operations as JsonObject).length} operations, ${count} schemas\n`)
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main()
