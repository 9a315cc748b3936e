import type { FastifyBaseLogger } from 'fastify'
import type { Store } from '../store/types.ts'
import { isResponseEvent, type ResponseEventHandler } from './responses.ts'
import { isSafetyEvent, type SafetyEventType } from './safety-notices.ts'
import type { WebhookEvent } from './verify.ts'

/**
 * OpenAI retries a delivery for up to 72 hours: a delivery id is remembered a day longer than that, so a
 * late retry of a handled event still has no effect.
 */
export const WEBHOOK_DEDUPE_TTL_MS = 4 * 86_400_000

export interface WebhookHandlers {
  safety: (event: WebhookEvent & { type: SafetyEventType }, requestId: string) => Promise<void>
  response: ResponseEventHandler
}

export interface Delivery { id: string, event: WebhookEvent, requestId: string }
export type DeliveryOutcome = 'handled' | 'duplicate' | 'ignored'

/**
 * Routes a verified delivery by event type, at most once per `webhook-id` across every instance (a store
 * claim taken before the effect). A handler that fails gives the claim back, so OpenAI's retry is
 * handled again; an event type the gateway has no use for is acknowledged and ignored.
 */
export function createWebhookDispatcher ({ store, handlers, log }: { store: Store, handlers: WebhookHandlers, log: FastifyBaseLogger }) {
  return async function dispatch ({ id, event, requestId }: Delivery): Promise<DeliveryOutcome> {
    const relevant = isSafetyEvent(event.type) || isResponseEvent(event.type)
    if (!relevant) {
      log.debug({ type: event.type, webhookId: id }, 'webhook event ignored')
      return 'ignored'
    }
    if (!await store.claimWebhookEvent(id, WEBHOOK_DEDUPE_TTL_MS)) return 'duplicate'
    try {
      if (isSafetyEvent(event.type)) await handlers.safety(event as WebhookEvent & { type: SafetyEventType }, requestId)
      else if (isResponseEvent(event.type) && typeof event.data.id === 'string') await handlers.response(event.data.id, event.type)
    } catch (err) {
      await store.releaseWebhookEvent(id).catch(cause => log.error({ err: cause, webhookId: id }, 'could not release a webhook claim'))
      throw err
    }
    return 'handled'
  }
}
export type WebhookDispatcher = ReturnType<typeof createWebhookDispatcher>
