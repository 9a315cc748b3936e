import OpenAI, { toFile } from 'openai'
import OpenAIv4, { toFile as toFileV4 } from 'openai-v4'
import type { Assistant, AssistantDeleted, FileDeleted, FileObject, Message, MessageDeleted, Run, RunStep, Thread, ThreadDeleted, ToolCall, Transcription, TranscriptionVerbose } from './shapes.ts'

/**
 * The two official SDK majors behind one set of calls, so every scenario runs on both. Each method is one
 * SDK call as an SPA writes it; the only difference between the majors is the call's spelling (4.x passes
 * the thread id positionally, later majors as `thread_id`). Return types are the project major's types:
 * tsc checks that 4.x hands back objects of those shapes as well.
 */

// Parameters both majors accept (their types differ in unions the scenarios do not use, such as model names).
type Both<A, B> = A & B
export type ThreadCreateParams = Both<OpenAI.Beta.ThreadCreateParams, OpenAIv4.Beta.ThreadCreateParams>
export type ThreadCreateAndRunParams = Omit<Both<OpenAI.Beta.ThreadCreateAndRunParamsNonStreaming, OpenAIv4.Beta.ThreadCreateAndRunParamsNonStreaming>, 'stream'>
export type MessageCreateParams = Both<OpenAI.Beta.Threads.MessageCreateParams, OpenAIv4.Beta.Threads.MessageCreateParams>
export type MessageListParams = Both<OpenAI.Beta.Threads.MessageListParams, OpenAIv4.Beta.Threads.MessageListParams>
export type RunCreateParams = Omit<Both<OpenAI.Beta.Threads.RunCreateParamsNonStreaming, OpenAIv4.Beta.Threads.RunCreateParamsNonStreaming>, 'stream'>
export type RunListParams = Both<OpenAI.Beta.Threads.RunListParams, OpenAIv4.Beta.Threads.RunListParams>
export type AssistantCreateParams = Both<OpenAI.Beta.AssistantCreateParams, OpenAIv4.Beta.AssistantCreateParams>
export type AssistantUpdateParams = Both<OpenAI.Beta.AssistantUpdateParams, OpenAIv4.Beta.AssistantUpdateParams>
export type ToolOutput = { tool_call_id: string, output: string }
export type Metadata = Record<string, string>

export interface TranscriptionParams {
  file: Buffer
  filename: string
  model: string
  language?: string
  prompt?: string
  temperature?: number
}

/** What the scenarios read from an SDK error (both majors' APIError have these). */
export interface ApiErrorLike extends Error {
  status?: number
  code?: string | null
  param?: string | null
  type?: string
  headers?: unknown
  error?: unknown
}
type ErrorClass = abstract new (...args: never[]) => ApiErrorLike

/** The AssistantStream helpers the scenarios use; both majors' AssistantStream satisfy it. */
export interface AssistantStreamLike {
  on (event: 'textDelta', listener: (delta: { value?: string }) => void): unknown
  on (event: 'messageDone', listener: (message: Message) => void): unknown
  on (event: 'event', listener: (event: { event: string, data: unknown }) => void): unknown
  on (event: 'end', listener: () => void): unknown
  on (event: 'toolCallCreated', listener: (toolCall: ToolCall) => void): unknown
  abort (): void
  finalRun (): Promise<Run>
  finalMessages (): Promise<Message[]>
}

export interface Page<T> { data: T[], hasNextPage: () => boolean }

export interface Sdk {
  name: string
  errors: {
    APIError: ErrorClass
    AuthenticationError: ErrorClass
    BadRequestError: ErrorClass
    NotFoundError: ErrorClass
    PermissionDeniedError: ErrorClass
    RateLimitError: ErrorClass
    ConflictError: ErrorClass
  }
  threads: {
    create: (body?: ThreadCreateParams) => Promise<Thread>
    retrieve: (threadId: string) => Promise<Thread>
    update: (threadId: string, body: { metadata?: Metadata | null }) => Promise<Thread>
    del: (threadId: string) => Promise<ThreadDeleted>
    createAndRun: (body: ThreadCreateAndRunParams) => Promise<Run>
    createAndRunPoll: (body: ThreadCreateAndRunParams) => Promise<Run>
    createAndRunStream: (body: ThreadCreateAndRunParams) => AssistantStreamLike
  }
  messages: {
    create: (threadId: string, body: MessageCreateParams) => Promise<Message>
    retrieve: (threadId: string, messageId: string) => Promise<Message>
    update: (threadId: string, messageId: string, body: { metadata?: Metadata | null }) => Promise<Message>
    del: (threadId: string, messageId: string) => Promise<MessageDeleted>
    /** Auto-paginating: `for await` walks every page. */
    list: (threadId: string, query?: MessageListParams) => AsyncIterable<Message>
    page: (threadId: string, query?: MessageListParams) => Promise<Page<Message>>
  }
  runs: {
    create: (threadId: string, body: RunCreateParams) => Promise<Run>
    retrieve: (threadId: string, runId: string) => Promise<Run>
    update: (threadId: string, runId: string, body: { metadata?: Metadata | null }) => Promise<Run>
    list: (threadId: string, query?: RunListParams) => AsyncIterable<Run>
    cancel: (threadId: string, runId: string) => Promise<Run>
    poll: (threadId: string, runId: string) => Promise<Run>
    createAndPoll: (threadId: string, body: RunCreateParams) => Promise<Run>
    stream: (threadId: string, body: RunCreateParams) => AssistantStreamLike
    createAndStream: (threadId: string, body: RunCreateParams) => AssistantStreamLike
    submitToolOutputsAndPoll: (threadId: string, runId: string, toolOutputs: ToolOutput[]) => Promise<Run>
    submitToolOutputsStream: (threadId: string, runId: string, toolOutputs: ToolOutput[]) => AssistantStreamLike
  }
  steps: {
    list: (threadId: string, runId: string, query?: { limit?: number, order?: 'asc' | 'desc' }) => AsyncIterable<RunStep>
    retrieve: (threadId: string, runId: string, stepId: string) => Promise<RunStep>
  }
  assistants: {
    list: () => AsyncIterable<Assistant>
    retrieve: (assistantId: string) => Promise<Assistant>
    create: (body: AssistantCreateParams) => Promise<Assistant>
    update: (assistantId: string, body: AssistantUpdateParams) => Promise<Assistant>
    del: (assistantId: string) => Promise<AssistantDeleted>
  }
  files: {
    create: (bytes: Buffer, filename: string, purpose: 'assistants' | 'user_data' | 'vision') => Promise<FileObject>
    retrieve: (fileId: string) => Promise<FileObject>
    list: (purpose?: string) => AsyncIterable<FileObject>
    del: (fileId: string) => Promise<FileDeleted>
    /** The gateway refuses downloads, so what a success would be does not matter here. */
    content: (fileId: string) => Promise<unknown>
  }
  audio: {
    json: (params: TranscriptionParams & { timestamp_granularities?: Array<'word' | 'segment'> }) => Promise<Transcription>
    text: (params: TranscriptionParams) => Promise<string>
    verbose: (params: TranscriptionParams & { timestamp_granularities?: Array<'word' | 'segment'> }) => Promise<TranscriptionVerbose>
  }
}

export type SdkFactory = (baseURL: string, apiKey: string) => Sdk

/** The latest 4.x, the most deployed Assistants client. Defaults kept: retries on, as an SPA has them. */
export const openaiV4: SdkFactory = (baseURL, apiKey) => {
  const client = new OpenAIv4({ baseURL, apiKey })
  const { threads } = client.beta
  const upload = (p: TranscriptionParams) => toFileV4(p.file, p.filename)
  return {
    name: 'openai@4',
    errors: OpenAIv4,
    threads: {
      create: body => threads.create(body),
      retrieve: id => threads.retrieve(id),
      update: (id, body) => threads.update(id, body),
      del: id => threads.del(id),
      createAndRun: body => threads.createAndRun(body),
      createAndRunPoll: body => threads.createAndRunPoll(body),
      createAndRunStream: body => threads.createAndRunStream(body)
    },
    messages: {
      create: (threadId, body) => threads.messages.create(threadId, body),
      retrieve: (threadId, id) => threads.messages.retrieve(threadId, id),
      update: (threadId, id, body) => threads.messages.update(threadId, id, body),
      del: (threadId, id) => threads.messages.del(threadId, id),
      list: (threadId, query) => threads.messages.list(threadId, query),
      page: (threadId, query) => threads.messages.list(threadId, query)
    },
    runs: {
      create: (threadId, body) => threads.runs.create(threadId, body),
      retrieve: (threadId, id) => threads.runs.retrieve(threadId, id),
      update: (threadId, id, body) => threads.runs.update(threadId, id, body),
      list: (threadId, query) => threads.runs.list(threadId, query),
      cancel: (threadId, id) => threads.runs.cancel(threadId, id),
      poll: (threadId, id) => threads.runs.poll(threadId, id),
      createAndPoll: (threadId, body) => threads.runs.createAndPoll(threadId, body),
      stream: (threadId, body) => threads.runs.stream(threadId, body),
      createAndStream: (threadId, body) => threads.runs.createAndStream(threadId, body),
      submitToolOutputsAndPoll: (threadId, id, outputs) => threads.runs.submitToolOutputsAndPoll(threadId, id, { tool_outputs: outputs }),
      submitToolOutputsStream: (threadId, id, outputs) => threads.runs.submitToolOutputsStream(threadId, id, { tool_outputs: outputs })
    },
    steps: {
      list: (threadId, runId, query) => threads.runs.steps.list(threadId, runId, query),
      retrieve: (threadId, runId, id) => threads.runs.steps.retrieve(threadId, runId, id)
    },
    assistants: {
      list: () => client.beta.assistants.list(),
      retrieve: id => client.beta.assistants.retrieve(id),
      create: body => client.beta.assistants.create(body),
      update: (id, body) => client.beta.assistants.update(id, body),
      del: id => client.beta.assistants.del(id)
    },
    files: {
      create: async (bytes, filename, purpose) => client.files.create({ file: await toFileV4(bytes, filename), purpose }),
      retrieve: id => client.files.retrieve(id),
      list: purpose => client.files.list(purpose ? { purpose } : {}),
      del: id => client.files.del(id),
      content: id => client.files.content(id)
    },
    audio: {
      json: async ({ file, filename, ...rest }) => client.audio.transcriptions.create({ ...rest, file: await upload({ file, filename, ...rest }), response_format: 'json' }),
      text: async ({ file, filename, ...rest }) => client.audio.transcriptions.create({ ...rest, file: await upload({ file, filename, ...rest }), response_format: 'text' }),
      verbose: async ({ file, filename, ...rest }) => client.audio.transcriptions.create({ ...rest, file: await upload({ file, filename, ...rest }), response_format: 'verbose_json' })
    }
  }
}

/** The project's own major, which still ships `beta.threads`. */
export const openaiV7: SdkFactory = (baseURL, apiKey) => {
  const client = new OpenAI({ baseURL, apiKey })
  const { threads } = client.beta
  const upload = (p: TranscriptionParams) => toFile(p.file, p.filename)
  return {
    name: 'openai@7',
    errors: OpenAI,
    threads: {
      create: body => threads.create(body),
      retrieve: id => threads.retrieve(id),
      update: (id, body) => threads.update(id, body),
      del: id => threads.delete(id),
      createAndRun: body => threads.createAndRun(body),
      createAndRunPoll: body => threads.createAndRunPoll(body),
      createAndRunStream: body => threads.createAndRunStream(body)
    },
    messages: {
      create: (threadId, body) => threads.messages.create(threadId, body),
      retrieve: (threadId, id) => threads.messages.retrieve(id, { thread_id: threadId }),
      update: (threadId, id, body) => threads.messages.update(id, { thread_id: threadId, ...body }),
      del: (threadId, id) => threads.messages.delete(id, { thread_id: threadId }),
      list: (threadId, query) => threads.messages.list(threadId, query),
      page: (threadId, query) => threads.messages.list(threadId, query)
    },
    runs: {
      create: (threadId, body) => threads.runs.create(threadId, body),
      retrieve: (threadId, id) => threads.runs.retrieve(id, { thread_id: threadId }),
      update: (threadId, id, body) => threads.runs.update(id, { thread_id: threadId, ...body }),
      list: (threadId, query) => threads.runs.list(threadId, query),
      cancel: (threadId, id) => threads.runs.cancel(id, { thread_id: threadId }),
      poll: (threadId, id) => threads.runs.poll(id, { thread_id: threadId }),
      createAndPoll: (threadId, body) => threads.runs.createAndPoll(threadId, body),
      stream: (threadId, body) => threads.runs.stream(threadId, body),
      createAndStream: (threadId, body) => threads.runs.createAndStream(threadId, body),
      submitToolOutputsAndPoll: (threadId, id, outputs) => threads.runs.submitToolOutputsAndPoll(id, { thread_id: threadId, tool_outputs: outputs }),
      submitToolOutputsStream: (threadId, id, outputs) => threads.runs.submitToolOutputsStream(id, { thread_id: threadId, tool_outputs: outputs })
    },
    steps: {
      list: (threadId, runId, query) => threads.runs.steps.list(runId, { thread_id: threadId, ...query }),
      retrieve: (threadId, runId, id) => threads.runs.steps.retrieve(id, { thread_id: threadId, run_id: runId })
    },
    assistants: {
      list: () => client.beta.assistants.list(),
      retrieve: id => client.beta.assistants.retrieve(id),
      create: body => client.beta.assistants.create(body),
      update: (id, body) => client.beta.assistants.update(id, body),
      del: id => client.beta.assistants.delete(id)
    },
    files: {
      create: async (bytes, filename, purpose) => client.files.create({ file: await toFile(bytes, filename), purpose }),
      retrieve: id => client.files.retrieve(id),
      list: purpose => client.files.list(purpose ? { purpose } : {}),
      del: id => client.files.delete(id),
      content: id => client.files.content(id)
    },
    audio: {
      json: async ({ file, filename, ...rest }) => client.audio.transcriptions.create({ ...rest, file: await upload({ file, filename, ...rest }), response_format: 'json' }),
      text: async ({ file, filename, ...rest }) => client.audio.transcriptions.create({ ...rest, file: await upload({ file, filename, ...rest }), response_format: 'text' }),
      verbose: async ({ file, filename, ...rest }) => client.audio.transcriptions.create({ ...rest, file: await upload({ file, filename, ...rest }), response_format: 'verbose_json' })
    }
  }
}
