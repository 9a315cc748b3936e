import { createHash } from 'node:crypto'
import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { Value } from 'typebox/value'
import { IdempotencyKeySchema } from '../../schemas/common.ts'
import { IdempotencyInProgress, IdempotencyKeyReused, ValidationFailed } from '../../services/errors.ts'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Honour Idempotency-Key on this creating POST. */
    idempotent?: boolean
  }
  interface FastifyRequest {
    idempotencyKey: string | null
  }
}

/** Headers worth replaying with a stored answer. */
const REPLAYED_HEADERS = ['content-type', 'location']

/** Same route, same params, same body (key order ignored): the same request. */
export function fingerprint (request: FastifyRequest): string {
  const canonical = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(canonical)
    if (value && typeof value === 'object') {
      return Object.fromEntries(Object.keys(value).sort().map(k => [k, canonical((value as Record<string, unknown>)[k])]))
    }
    return value
  }
  return createHash('sha256')
    .update(JSON.stringify([request.method, request.routeOptions.url, request.params, canonical(request.body ?? null)]))
    .digest('base64url')
}

/**
 * Idempotency-Key on creating POSTs: the first answer (2xx) is stored per user and key and replayed
 * for a retry with the same body; a different body is 422, a retry while the first is running 409.
 * Failures are not stored, so a retry after an error is attempted again.
 */
async function idempotency (fastify: FastifyInstance) {
  const { store, config } = fastify
  const ttlMs = config.IDEMPOTENCY_TTL_SECONDS * 1000
  // A crashed request's claim must not block retries forever; no request legitimately runs this long.
  const inFlightTtlMs = Math.max(config.RUN_WAIT_TIMEOUT_MS, config.UPLOAD_TIMEOUT_MS, config.REQUEST_TIMEOUT_MS) + 60_000
  fastify.decorateRequest('idempotencyKey', null)

  fastify.addHook('preHandler', async function (request: FastifyRequest, reply: FastifyReply) {
    if (!request.routeOptions.config.idempotent || !request.caller) return
    const raw = request.headers['idempotency-key']
    if (raw === undefined) return
    const key = Array.isArray(raw) ? raw[0] : raw
    if (!Value.Check(IdempotencyKeySchema, key)) throw new ValidationFailed('headers.idempotency-key must be 1-255 visible ASCII characters without spaces')
    const claim = await store.claimIdempotency(request.caller.id, key, fingerprint(request), ttlMs, inFlightTtlMs)
    switch (claim.state) {
      case 'new':
        request.idempotencyKey = key
        return
      case 'in_progress': throw new IdempotencyInProgress('A request with this Idempotency-Key is still being processed')
      case 'mismatch': throw new IdempotencyKeyReused('This Idempotency-Key was used with a different request')
      case 'replay':
        reply.code(claim.reply.status).headers(claim.reply.headers).header('idempotent-replayed', 'true')
        return reply.send(claim.reply.body)
    }
  })

  fastify.addHook('onSend', async function (request: FastifyRequest, reply: FastifyReply, payload: unknown) {
    const key = request.idempotencyKey
    if (key === null || !request.caller) return payload
    request.idempotencyKey = null
    if (reply.statusCode >= 300 || (typeof payload !== 'string' && !Buffer.isBuffer(payload))) {
      await store.abandonIdempotency(request.caller.id, key)
      return payload
    }
    const headers: Record<string, string> = {}
    for (const name of REPLAYED_HEADERS) {
      const value = reply.getHeader(name)
      if (value !== undefined) headers[name] = String(value)
    }
    await store.completeIdempotency(request.caller.id, key, { status: reply.statusCode, body: payload.toString(), headers })
    return payload
  })
}

export default fp(idempotency, { name: 'idempotency', dependencies: ['store', 'auth'] })
