import type { Response, ResponseFunctionToolCall } from 'openai/resources/responses/responses'
import type { RunStep } from '../../schemas/runs.ts'
import type { RunRecord, RunStepRecord } from '../store/types.ts'
import type { RunEvent } from './events.ts'

type RunRef = Pick<RunRecord, 'id' | 'thread_id' | 'assistant_type'>
type StepEnd = Exclude<RunStepRecord['status'], 'in_progress'>

/**
 * Run steps, as the Assistants API showed a run's progress: one message_creation step per message the
 * run wrote, one tool_calls step per round that called functions. They are derived from what the run
 * records anyway (its responses, the calls and their outputs) and kept on the run, so they survive
 * restarts and instances. Ids are derived too (from the message's and the response's ids), so a step
 * streamed while a message is written and the step stored once the response is settled are the same.
 */
export const messageStepId = (messageId: string) => `step_${messageId}`
export const callsStepId = (responseId: string) => `step_${responseId}`

export function messageStep (messageId: string, now: number, status: RunStepRecord['status']): RunStepRecord {
  return { id: messageStepId(messageId), type: 'message_creation', status, created_at: now, ended_at: status === 'in_progress' ? null : now, message_id: messageId, tool_calls: [], usage: null }
}

/** The steps of a settled response: its messages, written, and its function calls, waiting for their outputs. */
export function responseSteps (response: Response, calls: ResponseFunctionToolCall[], now: number): RunStepRecord[] {
  const steps = response.output.filter(o => o.type === 'message').map(m => messageStep(m.id, now, 'completed'))
  if (calls.length > 0) {
    steps.push({
      id: callsStepId(response.id),
      type: 'tool_calls',
      status: 'in_progress',
      created_at: now,
      ended_at: null,
      message_id: null,
      tool_calls: calls.map(c => ({ id: c.call_id, name: c.name, arguments: c.arguments, output: null })),
      usage: null
    })
  }
  const usage = response.usage
  const last = steps.at(-1)
  if (last && usage) last.usage = { prompt_tokens: usage.input_tokens, completion_tokens: usage.output_tokens, total_tokens: usage.total_tokens }
  return steps
}

/** Adds steps, replacing any with the same id (a step streamed earlier, now settled). */
export function mergeSteps (steps: RunStepRecord[] | null, added: RunStepRecord[]): RunStepRecord[] {
  const ids = new Set(added.map(s => s.id))
  return [...(steps ?? []).filter(s => !ids.has(s.id)), ...added]
}

/** The round's tool_calls step waiting for outputs, if any. */
export const openCallsStep = (steps: RunStepRecord[] | null) => (steps ?? []).findLast(s => s.type === 'tool_calls' && s.status === 'in_progress')

/** The open tool_calls step with the outputs that may be shown, completed. */
export function completeCalls (steps: RunStepRecord[] | null, shown: Map<string, string>, now: number): RunStepRecord[] {
  const open = openCallsStep(steps)
  return (steps ?? []).map(s => s !== open
    ? s
    : { ...s, status: 'completed' as const, ended_at: now, tool_calls: s.tool_calls.map(c => ({ ...c, output: shown.get(c.id) ?? c.output })) })
}

/** Steps still in progress take the run's end (cancelled, failed, expired). */
export function endSteps (steps: RunStepRecord[] | null, status: StepEnd, now: number): RunStepRecord[] {
  return (steps ?? []).map(s => s.status === 'in_progress' ? { ...s, status, ended_at: now } : s)
}

/** The Assistants API's RunStep object. */
export function toStepView (run: RunRef, step: RunStepRecord): RunStep {
  const at = (status: RunStepRecord['status']) => step.status === status ? step.ended_at : null
  return {
    id: step.id,
    object: 'thread.run.step',
    created_at: step.created_at,
    assistant_id: run.assistant_type,
    thread_id: run.thread_id,
    run_id: run.id,
    type: step.type,
    status: step.status,
    step_details: step.type === 'message_creation'
      ? { type: 'message_creation', message_creation: { message_id: step.message_id ?? '' } }
      : { type: 'tool_calls', tool_calls: step.tool_calls.map(c => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments, output: c.output } })) },
    last_error: null,
    expired_at: at('expired'),
    cancelled_at: at('cancelled'),
    failed_at: at('failed'),
    completed_at: at('completed'),
    metadata: {},
    usage: step.usage
  }
}

/** A step's event for a stream (created, in_progress, completed, …). */
export function stepEvent (kind: 'created' | 'in_progress' | StepEnd, run: RunRef, step: RunStepRecord): RunEvent {
  return { event: `thread.run.step.${kind}`, data: toStepView(run, step) }
}

/**
 * The step delta that announces a round's function calls, as the Assistants API streamed them: what the
 * SDK's AssistantStream turns into toolCallCreated / toolCallDelta.
 */
export function callsDeltaEvent (step: RunStepRecord): RunEvent {
  return {
    event: 'thread.run.step.delta',
    data: {
      id: step.id,
      object: 'thread.run.step.delta',
      delta: {
        step_details: {
          type: 'tool_calls',
          tool_calls: step.tool_calls.map((c, index) => ({ index, id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments, output: null } }))
        }
      }
    }
  }
}
