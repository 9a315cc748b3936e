import { EventEmitter } from 'node:events'

/** What a streaming client sees, in the contract's event names (data is a complete JSON object). */
export type RunEvent =
  | {
    event: 'thread.run.created' | 'thread.run.queued' | 'thread.run.in_progress' | 'thread.run.requires_action' | 'thread.run.completed' |
    'thread.run.incomplete' | 'thread.run.failed' | 'thread.run.cancelled' | 'thread.run.expired',
    data: object
  }
  | {
    event: 'thread.run.step.created' | 'thread.run.step.in_progress' | 'thread.run.step.delta' | 'thread.run.step.completed' |
    'thread.run.step.cancelled' | 'thread.run.step.failed' | 'thread.run.step.expired',
    data: object
  }
  | { event: 'thread.message.created' | 'thread.message.in_progress' | 'thread.message.completed', data: object }
  | { event: 'thread.message.delta', data: { id: string, object: 'thread.message.delta', delta: { content: Array<{ index: number, type: 'text', text: { value: string } }> } } }
  | { event: 'error', data: object }

/** A run's end, and its pause: after requires_action a stream ends, as the Assistants API's did. */
const TERMINAL_EVENTS = new Set<string>([
  'thread.run.completed', 'thread.run.incomplete', 'thread.run.failed', 'thread.run.cancelled', 'thread.run.expired', 'thread.run.requires_action'
])

/** The event after which a run's stream has nothing more to say. */
export const endsRun = (event: RunEvent) => TERMINAL_EVENTS.has(event.event)

/**
 * In-process fan-out of a run's events from the driver that produces them to the streams relaying them.
 * Nothing depends on a listener being there: a closed tab just stops listening.
 */
export function createRunEvents () {
  const emitter = new EventEmitter()
  emitter.setMaxListeners(0)
  return {
    publish (runId: string, event: RunEvent): void {
      emitter.emit(runId, event)
    },
    subscribe (runId: string, listener: (event: RunEvent) => void): () => void {
      emitter.on(runId, listener)
      return () => { emitter.off(runId, listener) }
    },
    listeners: (runId: string) => emitter.listenerCount(runId)
  }
}
export type RunEvents = ReturnType<typeof createRunEvents>
