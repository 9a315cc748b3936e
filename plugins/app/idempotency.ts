import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { createIdempotency } from '../../services/idempotency.ts'
import type { StoredReply } from '../../services/store/types.ts'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Honour Idempotency-Key on this creating POST. */
    idempotent?: boolean
  }
  interface FastifyRequest {
    /** The Idempotency-Key this request claimed; its answer is stored (or the claim given up) when it is sent. */
    idempotencyKey: string | null
  }
  interface FastifyInstance {
    idempotency: {
      /**
       * Claims the request's Idempotency-Key, if it has one, with `body` as the request's body (upload
       * routes pass what they read of a multipart body, which no preHandler sees). Returns the stored
       * answer to replay, or null to go ahead.
       */
      begin (request: FastifyRequest, body?: unknown): Promise<StoredReply | null>
      replay (reply: FastifyReply, stored: StoredReply): FastifyReply
      /** Stores `answer` as the request's answer now (a stream cannot be replayed, so its stand-in is stored). */
      complete (request: FastifyRequest, answer: StoredReply): Promise<void>
    }
  }
}

/** Headers worth replaying with a stored answer. */
const REPLAYED_HEADERS = ['content-type', 'location']

/** Idempotency-Key on creating POSTs (services/idempotency.ts): claimed before the handler, answered when sent. */
async function idempotency (fastify: FastifyInstance) {
  const service = createIdempotency({ store: fastify.store, config: fastify.config })
  fastify.decorateRequest('idempotencyKey', null)

  async function begin (request: FastifyRequest, body: unknown = request.body): Promise<StoredReply | null> {
    const key = service.keyOf(request.headers['idempotency-key'])
    if (key === null || !request.identity) return null
    const shape = { method: request.method, route: request.routeOptions.url ?? '', params: request.params, body }
    const stored = await service.claim(request.identity.id, key, shape)
    if (stored === null) request.idempotencyKey = key
    return stored
  }

  function replay (reply: FastifyReply, stored: StoredReply): FastifyReply {
    return reply.code(stored.status).headers(stored.headers).header('idempotent-replayed', 'true').send(stored.body)
  }

  fastify.decorate('idempotency', {
    begin,
    replay,
    async complete (request: FastifyRequest, answer: StoredReply) {
      const key = request.idempotencyKey
      if (key === null || !request.identity) return
      request.idempotencyKey = null
      await service.complete(request.identity.id, key, answer)
    }
  })

  fastify.addHook('preHandler', async function (request: FastifyRequest, reply: FastifyReply) {
    if (!request.routeOptions.config.idempotent) return
    const stored = await begin(request)
    if (stored) return replay(reply, stored)
  })

  fastify.addHook('onSend', async function (request: FastifyRequest, reply: FastifyReply, payload: unknown) {
    const key = request.idempotencyKey
    if (key === null || !request.identity) return payload
    request.idempotencyKey = null
    if (reply.statusCode >= 300 || (typeof payload !== 'string' && !Buffer.isBuffer(payload))) {
      await service.abandon(request.identity.id, key)
      return payload
    }
    const headers: Record<string, string> = {}
    for (const name of REPLAYED_HEADERS) {
      const value = reply.getHeader(name)
      if (value !== undefined) headers[name] = String(value)
    }
    await service.complete(request.identity.id, key, { status: reply.statusCode, body: payload.toString(), headers })
    return payload
  })
}

export default fp(idempotency, { name: 'idempotency', dependencies: ['store', 'auth'] })
