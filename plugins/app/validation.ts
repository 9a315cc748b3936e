import fp from 'fastify-plugin'
import { Ajv, type Options } from 'ajv'
import addFormats from 'ajv-formats'
import type { FastifyInstance } from 'fastify'
import { ISO_639_1_CODES, ISO_639_1_FORMAT } from '../../schemas/iso-639-1.ts'

/**
 * JSON bodies are validated as sent (a number where a string belongs is an error, not a silent
 * conversion); query strings, params and headers arrive as text and are coerced to their types.
 */
async function validation (fastify: FastifyInstance) {
  const make = (options: Options) => {
    const ajv = new Ajv({ useDefaults: true, removeAdditional: false, allErrors: false, strict: false, ...options })
    addFormats.default(ajv)
    ajv.addFormat(ISO_639_1_FORMAT, { type: 'string', validate: (code: string) => ISO_639_1_CODES.has(code) })
    return ajv
  }
  const strict = make({ coerceTypes: false })
  const coercing = make({ coerceTypes: 'array' })
  fastify.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? strict : coercing).compile(schema))
  // A JSON API: text bodies are refused with 415 instead of failing schema checks as strings.
  fastify.removeContentTypeParser('text/plain')
  // The official SDKs send `Content-Type: application/json` with no body on DELETE and on cancel: an
  // empty body is no body, i.e. no fields (a route that needs some names the first one missing).
  // Anything else goes to Fastify's own parser (prototype-poisoning checks kept).
  const json = fastify.getDefaultJsonParser('error', 'error')
  fastify.removeContentTypeParser('application/json')
  fastify.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (body === '') return done(null, {})
    json(request, body as string, done)
  })
}

export default fp(validation, { name: 'validation' })
