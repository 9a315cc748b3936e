import OpenAI from 'openai'
import type { FastifyError } from 'fastify'
import {
  PayloadTooLarge, ServiceUnavailable, UnsupportedMediaType, ValidationFailed, fromUpstream, isGatewayError, withDetails, type GatewayError
} from './errors.ts'

export interface ValidationIssue { instancePath: string, keyword: string, message?: string, params: Record<string, unknown>, propertyName?: string }

/** "body.content must NOT have more than 32000 characters": the field first, in the caller's terms. */
export function validationMessage (issues: ValidationIssue[], context = 'body'): string {
  const issue = issues[0]
  if (!issue) return `${context} is invalid`
  const path = [context, ...issue.instancePath.split('/').filter(Boolean)]
  if (issue.keyword === 'required') return `${[...path, String(issue.params.missingProperty)].join('.')} is required`
  if (issue.keyword === 'additionalProperties') return `${[...path, String(issue.params.additionalProperty)].join('.')} is not allowed`
  // Ajv reports a key that breaks propertyNames at its object, with the key beside it.
  if (issue.propertyName !== undefined) return `${path.join('.')} keys ${issue.message ?? 'are invalid'}`
  if (issue.keyword === 'enum' || issue.keyword === 'const') {
    const allowed = (issue.params.allowedValues as unknown[] | undefined) ?? [issue.params.allowedValue]
    return `${path.join('.')} must be one of ${allowed.map(v => JSON.stringify(v)).join(', ')}`
  }
  return `${path.join('.')} ${issue.message ?? 'is invalid'}`
}

/** The field a schema violation is about, as a dotted path below the request part ("messages.0.content"). */
function paramOf (issue: ValidationIssue | undefined): string | undefined {
  if (!issue) return undefined
  const path = issue.instancePath.split('/').filter(Boolean)
  if (issue.keyword === 'required') path.push(String(issue.params.missingProperty))
  else if (issue.keyword === 'additionalProperties') path.push(String(issue.params.additionalProperty))
  return path.length > 0 ? path.join('.') : undefined
}

/** A 400 for schema violations: the message names the field, `param` carries it. */
export function validationFailed (issues: ValidationIssue[], context = 'body'): GatewayError {
  const param = paramOf(issues[0])
  return withDetails(new ValidationFailed(validationMessage(issues, context)), param === undefined ? {} : { param })
}

/** Where a request's arguments travel: the query string for reads, the body otherwise. */
export const argumentsPart = (method: string) => method === 'GET' || method === 'HEAD' || method === 'DELETE' ? 'querystring' : 'body'

/**
 * Turns anything thrown while handling a request into a catalogue error; unknown failures become an
 * opaque 500. A service's invalidArgument names only the field: the part of the request it came in
 * (`part`) is added here, where it is known.
 */
export function toGatewayError (err: FastifyError, bodyLimit: number, part = 'body'): GatewayError {
  if (err.validation) return validationFailed(err.validation as ValidationIssue[], err.validationContext)
  if (isGatewayError(err)) {
    if (err.param !== undefined && err.code === 'VALIDATION_FAILED' && !err.message.startsWith(`${part}.`)) {
      err.message = `${part}.${err.param} ${err.message}`
    }
    return err
  }
  if (err instanceof OpenAI.OpenAIError) return fromUpstream(err)
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE': return new PayloadTooLarge(`Request body is larger than ${bodyLimit} bytes`)
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE': return new UnsupportedMediaType('Unsupported Content-Type: send application/json')
    case 'FST_ERR_CTP_EMPTY_JSON_BODY': return new ValidationFailed('body must not be empty when Content-Type is application/json')
    case 'FST_ERR_CTP_INVALID_JSON_BODY': return new ValidationFailed('body is not valid JSON')
    case 'FST_INVALID_MULTIPART_CONTENT_TYPE': return new UnsupportedMediaType('This route needs multipart/form-data')
  }
  if (err instanceof SyntaxError && err.statusCode === 400) return new ValidationFailed('body is not valid JSON')
  if (err.statusCode === 413) return new PayloadTooLarge(err.message)
  if (err.statusCode === 415) return new UnsupportedMediaType(err.message)
  if (err.statusCode === 503) return new ServiceUnavailable('The gateway is shutting down, retry on another instance')
  if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) {
    return new ValidationFailed(err.message)
  }
  const internal = new Error('Internal Server Error') as GatewayError
  internal.code = 'INTERNAL_ERROR'
  internal.statusCode = 500
  return internal
}
