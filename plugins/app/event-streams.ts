import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { createEventStreams, type EventStreams } from '../../services/runs/sse.ts'

declare module 'fastify' {
  interface FastifyInstance { eventStreams: EventStreams }
}

/** Server-sent event streams of runs; ended on shutdown so close() is not held up by them. */
async function eventStreams (fastify: FastifyInstance) {
  const streams = createEventStreams({ maxPerUser: fastify.config.STREAMS_MAX_PER_USER })
  fastify.decorate('eventStreams', streams)
  fastify.addHook('preClose', async () => { streams.endAll('The gateway is shutting down; the run goes on, poll its Location') })
}

export default fp(eventStreams, { name: 'event-streams' })
