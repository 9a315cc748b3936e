import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'

declare module 'fastify' {
  interface FastifyInstance {
    lifecycle: {
      /** True from the moment shutdown starts: readiness answers 503 so load balancers stop routing here. */
      readonly draining: boolean
    }
  }
}

async function lifecycle (fastify: FastifyInstance) {
  let draining = false
  fastify.decorate('lifecycle', { get draining () { return draining } })
  fastify.addHook('preClose', async () => { draining = true })
  // A request still in flight when shutdown starts must not leave its keep-alive connection open:
  // close() would wait for that idle socket until the keep-alive timeout.
  fastify.addHook('onSend', async (_request, reply, payload) => {
    if (draining) reply.header('connection', 'close')
    return payload
  })
}

export default fp(lifecycle, { name: 'lifecycle' })
