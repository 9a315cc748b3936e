import { STATUS_CODES } from 'node:http'
import fp from 'fastify-plugin'
import OpenAI from 'openai'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import {
  NotFound, PayloadTooLarge, ServiceUnavailable, UnsupportedMediaType, ValidationFailed,
  fromUpstream, isGatewayError, type GatewayError
} from '../../services/errors.ts'
import type { ErrorBody } from '../../schemas/common.ts'

interface ValidationIssue { instancePath: string, keyword: string, message?: string, params: Record<string, unknown>, propertyName?: string }

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

/** Turns anything thrown into a catalogue error; unknown failures become an opaque 500. */
export function toGatewayError (err: FastifyError, bodyLimit: number): GatewayError {
  if (err.validation) return new ValidationFailed(validationMessage(err.validation as ValidationIssue[], err.validationContext))
  if (isGatewayError(err)) return err
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

export function errorBody (err: GatewayError, requestId: string): ErrorBody {
  return {
    ...err.body,
    statusCode: err.statusCode,
    code: err.code,
    error: STATUS_CODES[err.statusCode] ?? 'Error',
    message: err.message,
    requestId
  }
}

async function errors (fastify: FastifyInstance) {
  const bodyLimit = fastify.initialConfig.bodyLimit ?? 1024 * 1024

  fastify.setErrorHandler(function (err: FastifyError, request: FastifyRequest, reply: FastifyReply) {
    const mapped = toGatewayError(err, bodyLimit)
    if (mapped.statusCode >= 500) {
      // The original error (and its upstream cause) is logged here, never sent: 5xx bodies stay generic.
      request.log.error({ err, code: mapped.code }, 'request failed')
    } else {
      request.log.info({ code: mapped.code, reason: mapped.message }, 'request rejected')
    }
    if (mapped.retryAfterSeconds !== undefined) reply.header('retry-after', String(mapped.retryAfterSeconds))
    return reply.code(mapped.statusCode).type('application/json; charset=utf-8').send(errorBody(mapped, request.id))
  })

  fastify.setNotFoundHandler({ preHandler: fastify.limitNotFound }, async function (request) {
    throw new NotFound(`Route ${request.method} ${request.url.split('?')[0]} not found`)
  })
}

export default fp(errors, { name: 'errors', dependencies: ['rate-limits'] })
