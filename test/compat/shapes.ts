import type { Test } from 'tap'
import type OpenAI from 'openai'
import type OpenAIv4 from 'openai-v4'

/**
 * The fields each SDK's Assistants v2 types declare, as key lists that tsc checks against both majors:
 * a key the types lack is a type error, and so is a key the types declare that a list leaves out. At run
 * time every key must be present on the object, with a value or null (the contract's rule).
 */
type Missing<T, K extends readonly PropertyKey[]> = Exclude<keyof T, K[number]>
type Complete<T, K extends readonly PropertyKey[]> = [Missing<T, K>] extends [never] ? unknown : { missingKeys: Missing<T, K> }

function keysOf<T, U> () {
  return <const K extends readonly (keyof T & keyof U)[]>(keys: K & Complete<T, K> & Complete<U, K>): K => keys
}

export type Thread = OpenAI.Beta.Threads.Thread
export type ThreadDeleted = OpenAI.Beta.Threads.ThreadDeleted
export type Message = OpenAI.Beta.Threads.Message
export type MessageDeleted = OpenAI.Beta.Threads.MessageDeleted
export type Run = OpenAI.Beta.Threads.Run
export type RunStep = OpenAI.Beta.Threads.Runs.RunStep
export type ToolCall = OpenAI.Beta.Threads.Runs.ToolCall
export type Assistant = OpenAI.Beta.Assistant
export type AssistantDeleted = OpenAI.Beta.AssistantDeleted
export type FileObject = OpenAI.FileObject
export type FileDeleted = OpenAI.FileDeleted
export type Transcription = OpenAI.Audio.Transcription
export type TranscriptionVerbose = OpenAI.Audio.TranscriptionVerbose

type V4Thread = OpenAIv4.Beta.Threads.Thread
type V4Message = OpenAIv4.Beta.Threads.Message
type V4Run = OpenAIv4.Beta.Threads.Run
type V4Assistant = OpenAIv4.Beta.Assistant
type V4File = OpenAIv4.FileObject

export const THREAD_KEYS = keysOf<Thread, V4Thread>()(['id', 'object', 'created_at', 'metadata', 'tool_resources'])
export const MESSAGE_KEYS = keysOf<Message, V4Message>()([
  'id', 'object', 'created_at', 'thread_id', 'role', 'content', 'assistant_id', 'run_id', 'attachments', 'metadata',
  'status', 'completed_at', 'incomplete_at', 'incomplete_details'
])
export const TEXT_BLOCK_KEYS = keysOf<OpenAI.Beta.Threads.TextContentBlock, OpenAIv4.Beta.Threads.TextContentBlock>()(['type', 'text'])
export const TEXT_KEYS = keysOf<OpenAI.Beta.Threads.Text, OpenAIv4.Beta.Threads.Text>()(['value', 'annotations'])
export const RUN_KEYS = keysOf<Run, V4Run>()([
  'id', 'object', 'created_at', 'thread_id', 'assistant_id', 'status', 'model', 'instructions', 'tools',
  'started_at', 'completed_at', 'cancelled_at', 'failed_at', 'expires_at', 'last_error', 'incomplete_details',
  'required_action', 'metadata', 'usage', 'max_prompt_tokens', 'max_completion_tokens', 'parallel_tool_calls',
  'response_format', 'tool_choice', 'truncation_strategy', 'temperature', 'top_p'
])
export const RUN_STEP_KEYS = keysOf<RunStep, OpenAIv4.Beta.Threads.Runs.RunStep>()([
  'id', 'object', 'created_at', 'thread_id', 'run_id', 'assistant_id', 'type', 'status', 'step_details', 'last_error',
  'usage', 'metadata', 'cancelled_at', 'completed_at', 'expired_at', 'failed_at'
])
export const USAGE_KEYS = keysOf<OpenAI.Beta.Threads.Run.Usage, OpenAIv4.Beta.Threads.Run.Usage>()(['prompt_tokens', 'completion_tokens', 'total_tokens'])
export const ASSISTANT_KEYS = keysOf<Assistant, V4Assistant>()([
  'id', 'object', 'created_at', 'name', 'description', 'model', 'instructions', 'tools', 'metadata',
  'temperature', 'top_p', 'response_format', 'tool_resources'
])
export const FILE_KEYS = keysOf<FileObject, V4File>()(['id', 'object', 'bytes', 'created_at', 'filename', 'purpose', 'status', 'status_details', 'expires_at'])
export const FUNCTION_KEYS = keysOf<OpenAI.FunctionDefinition, OpenAIv4.FunctionDefinition>()(['name', 'description', 'parameters', 'strict'])

/** Keys the SDK's types mark optional (`?:`): the contract's rule covers them, the SDK tolerates their absence. */
export const OPTIONAL = new Set<string>(['temperature', 'top_p', 'response_format', 'tool_resources', 'expires_at', 'status_details', 'strict', 'description', 'parameters'])

/**
 * Every key present with a value or null. Required keys (per the SDK's types) in one assertion, optional
 * ones in another, so a report can tell "the SDK's type is violated" from "the contract's stricter rule".
 */
export function hasEveryField (t: Test, value: unknown, keys: readonly string[], label: string, optionalToo = true): void {
  const object = (value ?? {}) as Record<string, unknown>
  const absent = keys.filter(k => !(k in object) || object[k] === undefined)
  t.same(absent.filter(k => !OPTIONAL.has(k)), [], `${label}: every field the SDK's type declares`)
  if (optionalToo) t.same(absent.filter(k => OPTIONAL.has(k)), [], `${label}: every optional field too, with a value or null`)
}

/** The text of a message as the SDK types it. */
export function textOf (message: Pick<Message, 'content'>): string {
  return message.content.map(block => block.type === 'text' ? block.text.value : '').join('')
}
