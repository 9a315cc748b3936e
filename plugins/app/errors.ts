import fp from 'fastify-plugin'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { NotFound, errorBody, retryable } from '../../services/errors.ts'
import { argumentsPart, toGatewayError } from '../../services/http-errors.ts'

/** An unknown URL is named in its 404, up to this many characters. */
const MAX_ECHOED_PATH = 256

/** The root error and not-found handlers: every failure answers with the contract's error body. */
async function errors (fastify: FastifyInstance) {
  const bodyLimit = fastify.initialConfig.bodyLimit ?? 1024 * 1024

  fastify.setErrorHandler(function (err: FastifyError, request: FastifyRequest, reply: FastifyReply) {
    const mapped = toGatewayError(err, bodyLimit, argumentsPart(request.method))
    if (mapped.statusCode >= 500) {
      // The original error (and its upstream cause) is logged here, never sent: 5xx bodies stay generic.
      request.log.error({ err, code: mapped.code }, 'request failed')
    } else {
      request.log.info({ code: mapped.code, reason: mapped.message }, 'request rejected')
    }
    if (mapped.retryAfterSeconds !== undefined) reply.header('retry-after', String(mapped.retryAfterSeconds))
    if (!retryable(mapped)) reply.header('x-should-retry', 'false')
    return reply.code(mapped.statusCode).type('application/json; charset=utf-8').send(errorBody(mapped, request.id))
  })

  fastify.setNotFoundHandler({ preHandler: fastify.rateLimits.notFound }, async function (request) {
    const path = request.url.split('?')[0]!
    throw new NotFound(`Route ${request.method} ${path.length > MAX_ECHOED_PATH ? `${path.slice(0, MAX_ECHOED_PATH)}…` : path} not found`)
  })
}

export default fp(errors, { name: 'errors', dependencies: ['rate-limits'] })
