import type { Store } from '../store/types.ts'

export const RESPONSE_EVENTS = ['response.completed', 'response.failed', 'response.cancelled', 'response.incomplete'] as const
export type ResponseEventType = typeof RESPONSE_EVENTS[number]
export const isResponseEvent = (type: string): type is ResponseEventType => (RESPONSE_EVENTS as readonly string[]).includes(type)

/** What is done with a response.* webhook: the run pipeline's to decide (issue 19 wakes the run driving it). */
export type ResponseEventHandler = (responseId: string, type: ResponseEventType) => Promise<void>

/**
 * Until the run pipeline takes response events over: tell every instance that the response changed
 * (`store.changes`, kind 'response'), which is all a waiter on it needs to re-read.
 */
export function publishResponseChange (store: Store): ResponseEventHandler {
  return async responseId => {
    await store.changes.publish('response', responseId)
  }
}
