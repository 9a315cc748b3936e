import type { Response, ResponseOutputMessage, ResponseStreamEvent } from 'openai/resources/responses/responses'
import type { RunRecord } from '../store/types.ts'
import type { RunEvent } from './events.ts'
import { messageView } from './views.ts'

type RunRef = Pick<RunRecord, 'id' | 'thread_id'>

/** The stream event that carries a response's end (it has no event for a cancelled one). */
export function endsResponse (event: ResponseStreamEvent): event is Extract<ResponseStreamEvent, { type: 'response.completed' | 'response.failed' | 'response.incomplete' }> {
  return event.type === 'response.completed' || event.type === 'response.failed' || event.type === 'response.incomplete'
}

/** The text of each content part of a message, by the part's index (a refusal has none). */
const partTexts = (message: ResponseOutputMessage) => message.content.map(part => part.type === 'output_text' ? part.text : '')

const answer = (run: RunRef, id: string, texts: string[], now: number) =>
  messageView({ id, thread_id: run.thread_id, role: 'assistant', run_id: run.id, created_at: now, texts: texts.filter(text => text !== '') })

function deltaEvent (itemId: string, index: number, text: string): RunEvent {
  return { event: 'thread.message.delta', data: { id: itemId, object: 'thread.message.delta', delta: { content: [{ index, type: 'text', text: { value: text } }] } } }
}

/** The contract's message event for an upstream stream event, if it is one the SPA sees. */
function messageEventOf (event: ResponseStreamEvent, run: RunRef, now: number): RunEvent | null {
  switch (event.type) {
    case 'response.output_item.added':
      return event.item.type === 'message' ? { event: 'thread.message.created', data: answer(run, event.item.id, [], now) } : null
    case 'response.output_text.delta':
      return deltaEvent(event.item_id, event.content_index, event.delta)
    case 'response.output_item.done':
      return event.item.type === 'message' ? { event: 'thread.message.completed', data: answer(run, event.item.id, partTexts(event.item), now) } : null
    default:
      return null
  }
}

/**
 * Turns a run's upstream stream events into the contract's message events and remembers what was
 * sent, so that a response whose end is learnt another way (its stream dropped and it was polled, or
 * it was never streamed) can be finished from its output: clients always see message.created, deltas
 * that add up to the final text, then message.completed.
 */
export function createMessageRelay (emit: (event: RunEvent) => void, now: () => number) {
  /** Messages created but not completed: the text sent so far of each content part. */
  const sent = new Map<string, string[]>()
  const completed = new Set<string>()
  return {
    forward (run: RunRef, event: ResponseStreamEvent): void {
      if (event.type === 'response.output_item.added' && event.item.type === 'message') {
        sent.set(event.item.id, [])
      } else if (event.type === 'response.output_text.delta') {
        const parts = sent.get(event.item_id) ?? []
        parts[event.content_index] = (parts[event.content_index] ?? '') + event.delta
        sent.set(event.item_id, parts)
      } else if (event.type === 'response.output_item.done' && event.item.type === 'message') {
        sent.delete(event.item.id)
        completed.add(event.item.id)
      }
      const mapped = messageEventOf(event, run, now())
      if (mapped) emit(mapped)
    },
    /** Sends what was not sent of the messages of a response that has ended. */
    finish (run: RunRef, response: Response): void {
      for (const item of response.output) {
        if (item.type !== 'message') continue
        // Completed in the stream: nothing is missing (and it is forgotten).
        if (completed.delete(item.id)) continue
        const parts = sent.get(item.id)
        sent.delete(item.id)
        if (!parts) emit({ event: 'thread.message.created', data: answer(run, item.id, [], now()) })
        const texts = partTexts(item)
        texts.forEach((text, index) => {
          const before = parts?.[index] ?? ''
          // Deltas cannot be taken back: should the final text not continue what was sent (upstream
          // does not rewrite text), message.completed still carries the final text.
          if (text.length > before.length && text.startsWith(before)) emit(deltaEvent(item.id, index, text.slice(before.length)))
        })
        emit({ event: 'thread.message.completed', data: answer(run, item.id, texts, now()) })
      }
    }
  }
}
export type MessageRelay = ReturnType<typeof createMessageRelay>
