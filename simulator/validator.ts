import { readFileSync } from 'node:fs'
import { Ajv2020 } from 'ajv/dist/2020.js'
import type { ErrorObject, ValidateFunction } from 'ajv/dist/2020.js'
import addFormats from 'ajv-formats'

export type Location = 'path' | 'query' | 'body'

export interface ValidationIssue {
  location: Location
  instancePath: string
  schemaPath: string
  keyword: string
  message: string
  params: Record<string, unknown>
}

interface Operation {
  method: string
  path: string
  parameters: Partial<Record<'path' | 'query', object>>
  requestBody?: { required: boolean, contentType: string, schema: object }
  responses: Record<string, Record<string, object>>
}

interface Extract {
  operations: Record<string, Operation>
}

const EXTRACT_ID = 'https://simulator.invalid/openapi-extract.json'
const MAX_ISSUES = 200

export interface Validator {
  /** Issues of one part of a request, or null when it conforms. */
  check (operationId: string, location: Location, data: unknown): ValidationIssue[] | null
  /** Whether the operation has a request body and whether it must be present. */
  body (operationId: string): { required: boolean, contentType: string } | null
  /** Issues of a simulated answer against the spec's response schema (used by the tests). */
  checkResponse (operationId: string, status: number, contentType: string, data: unknown): ValidationIssue[] | null
  /** Compiles every request validator now instead of on first use. */
  warm (): void
}

export function createValidator (extractPath: URL = new URL('./openapi-extract.json', import.meta.url)): Validator {
  let extract: Extract | null = null
  let strict: Ajv2020 | null = null
  let coercing: Ajv2020 | null = null
  const cache = new Map<string, ValidateFunction | null>()

  function load (): Extract {
    if (extract) return extract
    extract = JSON.parse(readFileSync(extractPath, 'utf8')) as Extract
    return extract
  }

  function ajv (coerce: boolean): Ajv2020 {
    if (coerce && coercing) return coercing
    if (!coerce && strict) return strict
    const instance = new Ajv2020({
      strict: false,
      allErrors: false,
      validateSchema: false,
      logger: false,
      // Query strings and multipart fields carry only strings; JSON bodies must have real types.
      coerceTypes: coerce ? 'array' : false
    })
    addFormats.default(instance)
    instance.addFormat('binary', true)
    instance.addFormat('unixtime', { type: 'number', validate: () => true })
    instance.addSchema(load() as object, EXTRACT_ID)
    if (coerce) coercing = instance
    else strict = instance
    return instance
  }

  function compile (key: string, pointer: string, coerce: boolean): ValidateFunction {
    let fn = cache.get(key)
    if (fn === undefined) {
      fn = ajv(coerce).compile({ $ref: `${EXTRACT_ID}#${pointer}` })
      cache.set(key, fn)
    }
    return fn as ValidateFunction
  }

  function validator (operationId: string, location: Location): ValidateFunction | null {
    const key = `${operationId} ${location}`
    const cached = cache.get(key)
    if (cached !== undefined) return cached
    const op = load().operations[operationId]
    if (!op) throw new Error(`unknown operation ${operationId}`)
    if (location === 'body') {
      if (!op.requestBody) { cache.set(key, null); return null }
      return compile(key, `/operations/${operationId}/requestBody/schema`, op.requestBody.contentType !== 'application/json')
    }
    if (!op.parameters[location]) { cache.set(key, null); return null }
    return compile(key, `/operations/${operationId}/parameters/${location}`, true)
  }

  return {
    check (operationId, location, data) {
      const fn = validator(operationId, location)
      if (fn === null || fn(data)) return null
      return toIssues(location, fn.errors ?? [])
    },
    body (operationId) {
      const op = load().operations[operationId]
      return op?.requestBody ? { required: op.requestBody.required, contentType: op.requestBody.contentType } : null
    },
    checkResponse (operationId, status, contentType, data) {
      const op = load().operations[operationId]
      const schemas = op?.responses[String(status)]
      if (!schemas?.[contentType]) throw new Error(`no ${status} ${contentType} schema for ${operationId}`)
      const pointer = `/operations/${operationId}/responses/${status}/${contentType.replace('/', '~1')}`
      const fn = compile(`${operationId} ${status} ${contentType}`, pointer, false)
      return fn(data) ? null : toIssues('body', fn.errors ?? [])
    },
    warm () {
      for (const id of Object.keys(load().operations)) {
        for (const location of ['path', 'query', 'body'] as const) validator(id, location)
      }
    }
  }
}

function toIssues (location: Location, errors: ErrorObject[]): ValidationIssue[] {
  return errors.slice(0, MAX_ISSUES).map((e) => ({
    location,
    instancePath: e.instancePath,
    schemaPath: e.schemaPath,
    keyword: e.keyword,
    message: e.message ?? e.keyword,
    params: e.params as Record<string, unknown>
  }))
}

/** `/input/0/content` → `input[0].content`, OpenAI's way of naming a parameter. */
export function paramName (instancePath: string): string {
  let out = ''
  for (const part of instancePath.split('/').slice(1)) {
    const key = part.replaceAll('~1', '/').replaceAll('~0', '~')
    out += /^\d+$/.test(key) ? `[${key}]` : (out ? `.${key}` : key)
  }
  return out
}

/** A short message naming the most specific failures (anyOf reports every branch). */
export function describeIssues (issues: ValidationIssue[]): { message: string, param: string | null } {
  const specific = issues.filter((i) => i.keyword !== 'anyOf' && i.keyword !== 'if')
  // In a union, a branch whose `type` does not match is noise: the intended branch failed elsewhere.
  const meaningful = specific.filter((i) => !(i.instancePath.endsWith('/type') && (i.keyword === 'enum' || i.keyword === 'const')))
  const pool = meaningful.length > 0 ? meaningful : specific.length > 0 ? specific : issues
  const deepest = pool.reduce((depth, i) => Math.max(depth, i.instancePath.split('/').length), 0)
  const chosen = pool.filter((i) => i.instancePath.split('/').length === deepest)
  const first = chosen[0]
  const path = first ? paramName(first.instancePath) : ''
  const missing = [...new Set(chosen.filter((i) => i.keyword === 'required').map((i) => String(i.params.missingProperty)))]
  // One missing property names the parameter itself; several come from different union branches.
  const name = missing.length === 1 && chosen.length === 1 ? (path ? `${path}.${missing[0]}` : missing[0]) : path
  const messages = [...new Set(chosen.filter((i) => i.keyword !== 'required').map((i) => i.message))]
  if (missing.length > 0) messages.unshift(`must have required property ${missing.slice(0, 4).map((m) => `'${m}'`).join(' | ')}`)
  const where = first?.location === 'body' ? 'body' : `${first?.location ?? 'body'} parameter`
  return {
    message: `Request does not conform to the OpenAPI schema: ${where} ${name ? `'${name}' ` : ''}${messages.slice(0, 3).join('; ')}`,
    param: name || null
  }
}
