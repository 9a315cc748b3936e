import type { WebhookEventStore } from '../webhook-events.ts'
import type { RedisContext } from './context.ts'

/**
 * A key per claimed delivery with a TTL. Unlike the store's deadlines this one is Redis's own clock: a
 * claim only has to outlive the sender's retries (days), so seconds of skew do not matter.
 */
export function redisWebhookEvents (ctx: RedisContext): WebhookEventStore {
  const { client, keys } = ctx
  return {
    async claimWebhookEvent (id, ttlMs) {
      return await ctx.call(() => client.set(keys.webhookEvent(id), String(ctx.clock()), 'PX', Math.max(1, Math.round(ttlMs)), 'NX')) === 'OK'
    },
    async releaseWebhookEvent (id) {
      await ctx.call(() => client.del(keys.webhookEvent(id)))
    }
  }
}
