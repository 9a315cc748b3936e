/**
 * Webhook deliveries already handled, by their `webhook-id`: OpenAI delivers at least once (retries for
 * up to 72 hours, duplicates), so a delivery is claimed before its effect and a repeat has none.
 */
export interface WebhookEventStore {
  /**
   * Claims a delivery id for `ttlMs`: true the first time (the caller handles the event), false while
   * the id is claimed. Expired claims behave as absent.
   */
  claimWebhookEvent (id: string, ttlMs: number): Promise<boolean>
  /** Gives a claim up (handling failed, so a retry of the delivery is handled again). */
  releaseWebhookEvent (id: string): Promise<void>
}
