import type { Store } from '../store/types.ts'

export const RESPONSE_EVENTS = ['response.completed', 'response.failed', 'response.cancelled', 'response.incomplete'] as const
export type ResponseEventType = typeof RESPONSE_EVENTS[number]
export const isResponseEvent = (type: string): type is ResponseEventType => (RESPONSE_EVENTS as readonly string[]).includes(type)

/** What is done with a response.* webhook. */
export type ResponseEventHandler = (responseId: string, type: ResponseEventType) => Promise<void>

/**
 * Tells every instance that the response changed (`store.changes`, kind 'response'): the driver waiting
 * for it, wherever it runs, hears it (services/runs/response-ends.ts) and reads the response once.
 */
export function publishResponseChange (store: Store): ResponseEventHandler {
  return async responseId => {
    await store.changes.publish('response', responseId)
  }
}
