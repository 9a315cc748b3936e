import type OpenAI from 'openai'
import { ValidationFailed, withDetails } from '../errors.ts'

/** What every OpenAI webhook event is (UPSTREAM.md §13): read tolerantly, the newer ones are not in the spec. */
export interface WebhookEvent {
  id: string
  type: string
  created_at: number
  data: Record<string, unknown>
}

/**
 * Checks a delivery's Standard Webhooks signature with the SDK (`webhooks.unwrap`: HMAC-SHA256 over
 * "id.timestamp.body", timestamps older or newer than 5 minutes refused) and parses it. Anything wrong
 * is a 400: OpenAI retries a failed delivery, an attacker learns nothing but "no".
 */
export async function unwrapWebhook (openai: OpenAI, body: string, headers: Record<string, string | string[] | undefined>, secret: string): Promise<WebhookEvent> {
  let event: unknown
  try {
    event = await openai.webhooks.unwrap(body, headers as Record<string, string>, secret)
  } catch (err) {
    throw withDetails(new ValidationFailed('The webhook signature is missing, invalid or stale'), { cause: err })
  }
  const e = event as Partial<WebhookEvent> | null
  if (!e || typeof e.type !== 'string' || typeof e.data !== 'object' || e.data === null) {
    throw new ValidationFailed('The webhook event has no type or data')
  }
  return { id: String(e.id ?? ''), type: e.type, created_at: Number(e.created_at ?? 0), data: e.data }
}
