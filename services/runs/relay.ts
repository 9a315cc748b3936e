import type { Response, ResponseOutputMessage, ResponseStreamEvent } from 'openai/resources/responses/responses'
import type { RunRecord } from '../store/types.ts'
import type { RunEvent } from './events.ts'
import { messageStep, stepEvent } from './steps.ts'
import { messageView } from './views.ts'

/** The stream event that carries a response's end (it has no event for a cancelled one). */
export function endsResponse (event: ResponseStreamEvent): event is Extract<ResponseStreamEvent, { type: 'response.completed' | 'response.failed' | 'response.incomplete' }> {
  return event.type === 'response.completed' || event.type === 'response.failed' || event.type === 'response.incomplete'
}

/** The text of each content part of a message, by the part's index (a refusal has none). */
const partTexts = (message: ResponseOutputMessage) => message.content.map(part => part.type === 'output_text' ? part.text : '')

type RunRef = Pick<RunRecord, 'id' | 'thread_id' | 'assistant_type'>

/** The assistant message a run is writing: in progress until its item is done. */
const answer = (run: RunRef, id: string, texts: string[], now: number, status: 'in_progress' | 'completed') =>
  messageView({ id, thread_id: run.thread_id, role: 'assistant', run_id: run.id, assistant_id: run.assistant_type, created_at: now, status, texts: texts.filter(text => text !== '') })

function deltaEvent (itemId: string, index: number, text: string): RunEvent {
  return { event: 'thread.message.delta', data: { id: itemId, object: 'thread.message.delta', delta: { content: [{ index, type: 'text', text: { value: text } }] } } }
}

/** A message starts as the Assistants API started one: its step, then the message, created and in progress. */
function started (run: RunRef, id: string, now: number): RunEvent[] {
  const data = answer(run, id, [], now, 'in_progress')
  const step = messageStep(id, now, 'in_progress')
  return [
    stepEvent('created', run, step), stepEvent('in_progress', run, step),
    { event: 'thread.message.created', data }, { event: 'thread.message.in_progress', data }
  ]
}

/** A message ends with its whole text, then its step. */
function completed (run: RunRef, id: string, texts: string[], now: number): RunEvent[] {
  return [{ event: 'thread.message.completed', data: answer(run, id, texts, now, 'completed') }, stepEvent('completed', run, messageStep(id, now, 'completed'))]
}

/** The contract's message events for an upstream stream event (none for most). */
function messageEventsOf (event: ResponseStreamEvent, run: RunRef, now: number): RunEvent[] {
  switch (event.type) {
    case 'response.output_item.added':
      return event.item.type === 'message' ? started(run, event.item.id, now) : []
    case 'response.output_text.delta':
      return [deltaEvent(event.item_id, event.content_index, event.delta)]
    case 'response.output_item.done':
      return event.item.type === 'message' ? completed(run, event.item.id, partTexts(event.item), now) : []
    default:
      return []
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
  const done = new Set<string>()
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
        done.add(event.item.id)
      }
      for (const mapped of messageEventsOf(event, run, now())) emit(mapped)
    },
    /** Sends what was not sent of the messages of a response that has ended. */
    finish (run: RunRef, response: Response): void {
      for (const item of response.output) {
        if (item.type !== 'message') continue
        // Completed in the stream: nothing is missing (and it is forgotten).
        if (done.delete(item.id)) continue
        const parts = sent.get(item.id)
        sent.delete(item.id)
        if (!parts) started(run, item.id, now()).forEach(emit)
        const texts = partTexts(item)
        texts.forEach((text, index) => {
          const before = parts?.[index] ?? ''
          // Deltas cannot be taken back: should the final text not continue what was sent (upstream
          // does not rewrite text), message.completed still carries the final text.
          if (text.length > before.length && text.startsWith(before)) emit(deltaEvent(item.id, index, text.slice(before.length)))
        })
        completed(run, item.id, texts, now()).forEach(emit)
      }
    }
  }
}
export type MessageRelay = ReturnType<typeof createMessageRelay>
