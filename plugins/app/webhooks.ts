import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { createOpenAIClient } from '../../services/openai-client.ts'
import { createWebhookDispatcher, type DeliveryOutcome } from '../../services/webhooks/dispatcher.ts'
import { publishResponseChange } from '../../services/webhooks/responses.ts'
import { createSafetyCaseReader, createSafetyNoticeHandler } from '../../services/webhooks/safety-notices.ts'
import { unwrapWebhook } from '../../services/webhooks/verify.ts'

declare module 'fastify' {
  interface FastifyInstance {
    webhooks: {
      /** Verifies, de-duplicates and handles one OpenAI webhook delivery (its raw body and headers). */
      receive: (body: string, headers: Record<string, string | string[] | undefined>, requestId: string) => Promise<DeliveryOutcome>
    }
  }
}

/**
 * OpenAI's webhooks (services/webhooks/): safety notices mapped to users, response events published as a
 * 'response' change on the store's feed, which wakes the run driving that response on any instance. Only
 * used when OPENAI_WEBHOOK_SECRET is set (the route is not registered otherwise).
 */
async function webhooks (fastify: FastifyInstance) {
  const { config, openai, store, identities, users, audit, clock, log } = fastify
  // The case API needs a key with api.safety.read: its own client, built like the main one.
  const safetyClient = config.OPENAI_SAFETY_API_KEY ? createOpenAIClient({ ...config, OPENAI_API_KEY: config.OPENAI_SAFETY_API_KEY }) : null
  const dispatch = createWebhookDispatcher({
    store,
    log,
    handlers: {
      safety: createSafetyNoticeHandler({ identities, users, audit, readCase: createSafetyCaseReader(safetyClient), config, clock, log }),
      response: publishResponseChange(store)
    }
  })
  fastify.decorate('webhooks', {
    async receive (body, headers, requestId) {
      const event = await unwrapWebhook(openai, body, headers, config.OPENAI_WEBHOOK_SECRET ?? '')
      const id = String(headers['webhook-id'])
      const outcome = await dispatch({ id, event, requestId })
      log.info({ webhookId: id, type: event.type, outcome }, 'OpenAI webhook')
      return outcome
    }
  })
}

export default fp(webhooks, { name: 'webhooks', dependencies: ['openai', 'store', 'identities', 'users', 'audit'] })
