import underPressure from '@fastify/under-pressure'
import type { FastifyInstance } from 'fastify'
import { ServiceUnavailable, withDetails } from '../../services/errors.ts'

/**
 * Sheds load with 503 SERVICE_UNAVAILABLE when the event loop lags or the heap is over its limit, so an
 * overloaded instance fails fast instead of timing out every request.
 * @see https://github.com/fastify/under-pressure
 */
export const autoConfig = (fastify: FastifyInstance) => ({
  maxEventLoopDelay: fastify.config.MAX_EVENT_LOOP_DELAY_MS,
  maxHeapUsedBytes: fastify.config.MAX_HEAP_USED_BYTES,
  maxRssBytes: 0,
  maxEventLoopUtilization: 0,
  pressureHandler: () => {
    throw withDetails(new ServiceUnavailable('The gateway is overloaded, retry shortly'), { retryAfterSeconds: 5 })
  }
})

export default underPressure
