/// <reference lib="dom" />
/**
 * A small client for the gateway's HTTP contract (/api/openai): fetch with a bearer token, errors as
 * ApiError, and run streaming read from fetch + ReadableStream — EventSource can neither POST nor send
 * an Authorization header.
 */

export interface Thread { id: string, object: 'thread', created_at: number, title: string | null, metadata: Record<string, string> }
export interface TextPart { type: 'text', text: { value: string, annotations: unknown[] } }
export interface Message {
  id: string
  object: 'thread.message'
  created_at: number | null
  thread_id: string
  role: 'user' | 'assistant'
  run_id: string | null
  content: TextPart[]
  attachments: Array<{ file_id: string }>
}
/** A client tool the model called: the page runs `function.name` with the JSON `function.arguments`. */
export interface ToolCall { id: string, type: 'function', function: { name: string, arguments: string } }
export interface ToolOutput { tool_call_id: string, output: string }
export interface Run {
  id: string
  object: 'thread.run'
  thread_id: string
  assistant_id: string
  status: 'queued' | 'in_progress' | 'requires_action' | 'completed' | 'incomplete' | 'failed' | 'cancelling' | 'cancelled' | 'expired'
  /** Set while the run waits for this page's client tools (status requires_action), until `expires_at`. */
  required_action: { type: 'submit_tool_outputs', submit_tool_outputs: { tool_calls: ToolCall[] } } | null
  expires_at: number | null
  last_error: { code: string, message: string } | null
  incomplete_details: { reason: string } | null
}
/** A user message sent with its run (`additional_messages`), so that a refused run posts nothing. */
export interface NewMessage { content: string, attachments?: Array<{ file_id: string }> }
export interface Assistant { id: string, object: 'assistant', name: string, description: string, model: string }
export interface FileObject { id: string, object: 'file', filename: string, bytes: number, created_at: number, purpose: string }
export interface List<T> { object: 'list', data: T[], first_id: string | null, last_id: string | null, has_more: boolean }
export interface Transcription { text: string, duration?: number, language?: string, model: string }
/** The caller's usage today; a limit of null is no limit. Times are Unix seconds. */
export interface Usage {
  object: 'usage'
  resets_at: number
  tokens: { input: number, output: number, total: number }
  audio_seconds: number
  runs: number
  limits: { tokens: number | null, audio_seconds: number | null }
  remaining: { tokens: number | null, audio_seconds: number | null }
}
/**
 * The contract's error body (v2): `error` is shaped as OpenAI's errors (what the official SDK reads),
 * the v1 fields stay beside it. `run` comes with RUN_FAILED.
 */
export interface ErrorBody {
  error: { message: string, type: string, code: string, param: string | null }
  statusCode: number
  code: string
  message: string
  requestId?: string
  run?: Run
}
/** One server-sent event; `data` is parsed JSON, or the string `[DONE]` on the final `done` event. */
export interface RunStreamEvent { event: string, data: unknown }

/** A failed call: an error answer from the gateway, or no answer at all (status 0: network, TLS or CORS). */
export class ApiError extends Error {
  status: number
  code: string
  requestId: string | null
  /** From Retry-After on 429/503: when to try again. */
  retryAfterSeconds: number | null

  constructor (status: number, code: string, message: string, requestId: string | null = null, retryAfterSeconds: number | null = null) {
    super(message)
    this.name = 'ApiError'
    this.status = status
    this.code = code
    this.requestId = requestId
    this.retryAfterSeconds = retryAfterSeconds
  }
}

async function toApiError (res: Response): Promise<ApiError> {
  const retryAfter = Number(res.headers.get('retry-after'))
  let body: Partial<ErrorBody> = {}
  try {
    body = await res.json()
  } catch {
    // Not the gateway's JSON (a proxy's HTML page, say): the status line is all we have.
  }
  return new ApiError(
    res.status,
    body.code ?? `HTTP_${res.status}`,
    body.message ?? res.statusText,
    body.requestId ?? res.headers.get('x-request-id'),
    Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : null
  )
}

/** Splits a text/event-stream body into events. The gateway ends lines with \n; `:` lines are heartbeats. */
export async function * readServerSentEvents (body: ReadableStream<Uint8Array>): AsyncGenerator<{ event: string, data: string }> {
  const reader = body.getReader()
  const decoder = new TextDecoder()
  let buffer = ''
  try {
    while (true) {
      const { value, done } = await reader.read()
      if (done) return
      buffer += decoder.decode(value, { stream: true })
      let end: number
      while ((end = buffer.indexOf('\n\n')) !== -1) {
        const block = buffer.slice(0, end)
        buffer = buffer.slice(end + 2)
        let event = 'message'
        const data: string[] = []
        for (const line of block.split('\n')) {
          const colon = line.indexOf(':')
          if (colon === 0) continue
          const field = colon === -1 ? line : line.slice(0, colon)
          const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '')
          if (field === 'event') event = value
          else if (field === 'data') data.push(value)
        }
        if (data.length > 0) yield { event, data: data.join('\n') }
      }
    }
  } finally {
    // Stopping early closes the connection; the run itself goes on in the gateway.
    await reader.cancel().catch(() => {})
  }
}

export function createClient (gatewayUrl: string, token: string) {
  const base = `${gatewayUrl.replace(/\/+$/, '')}/api/openai`

  async function call (method: string, path: string, body?: object | FormData, headers: Record<string, string> = {}): Promise<Response> {
    const init: RequestInit = { method, headers: { authorization: `Bearer ${token}`, ...headers } }
    if (body instanceof FormData) {
      init.body = body // the browser writes the multipart content-type with its boundary
    } else if (body !== undefined) {
      init.body = JSON.stringify(body)
      init.headers = { ...init.headers, 'content-type': 'application/json' }
    }
    let res: Response
    try {
      res = await fetch(base + path, init)
    } catch {
      // fetch tells a script nothing more (by design): the gateway is down, its certificate is not
      // trusted, or it did not allow this page's origin (CORS). The browser console says which.
      throw new ApiError(0, 'NETWORK_ERROR', `Could not reach the gateway at ${gatewayUrl}`)
    }
    if (!res.ok) throw await toApiError(res)
    return res
  }
  const json = async <T>(method: string, path: string, body?: object | FormData): Promise<T> =>
    (await call(method, path, body)).json() as Promise<T>
  const id = encodeURIComponent
  const SSE = { accept: 'text/event-stream' }

  /** The events of a run's stream until `done`. */
  async function * runEvents (res: Response): AsyncGenerator<RunStreamEvent> {
    if (!res.body) throw new ApiError(res.status, 'NO_STREAM', 'The gateway answered without a stream')
    for await (const { event, data } of readServerSentEvents(res.body)) {
      yield { event, data: data === '[DONE]' ? data : JSON.parse(data) }
      if (event === 'done') return
    }
  }

  return {
    listAssistants: () => json<List<Assistant>>('GET', '/assistants'),
    listThreads: () => json<List<Thread>>('GET', '/threads?limit=50'),
    createThread: (title: string | null, metadata: Record<string, string>) =>
      json<Thread>('POST', '/threads', { ...(title ? { title } : {}), metadata }),
    /** Sets the title and/or the metadata; metadata is replaced as a whole. */
    updateThread: (threadId: string, changes: { title?: string, metadata?: Record<string, string> }) =>
      json<Thread>('POST', `/threads/${id(threadId)}`, changes),
    deleteThread: (threadId: string) => json<{ id: string, deleted: true }>('DELETE', `/threads/${id(threadId)}`),

    /** The whole history, oldest first, following the `after` cursor page by page. */
    async listMessages (threadId: string): Promise<Message[]> {
      const messages: Message[] = []
      let after = ''
      do {
        const page = await json<List<Message>>('GET', `/threads/${id(threadId)}/messages?order=asc&limit=100${after}`)
        messages.push(...page.data)
        after = page.has_more && page.last_id ? `&after=${id(page.last_id)}` : ''
      } while (after)
      return messages
    },

    /**
     * Starts a run with stream: true and yields its events until `done`. With `message`, the user's message
     * is added by the run itself (`additional_messages`): a run refused (busy thread, budget, rate limit)
     * adds nothing, so sending again never posts the question twice.
     */
    async * streamRun (threadId: string, assistantId: string, message: NewMessage | null = null): AsyncGenerator<RunStreamEvent> {
      yield * runEvents(await call('POST', `/threads/${id(threadId)}/runs`, {
        assistant_type: assistantId,
        stream: true,
        ...(message ? { additional_messages: [{ role: 'user', ...message }] } : {})
      }, SSE))
    },

    /**
     * Answers a run paused in requires_action (one output per pending call); resolves, once the gateway has
     * taken the outputs, with the stream of the rest of the run. A refusal (429, say) rejects here, before any
     * event, so the caller can tell "not taken, send again" from a stream that broke off.
     */
    async submitToolOutputs (threadId: string, runId: string, outputs: ToolOutput[]): Promise<AsyncGenerator<RunStreamEvent>> {
      return runEvents(await call('POST', `/threads/${id(threadId)}/runs/${id(runId)}/submit_tool_outputs`, { tool_outputs: outputs, stream: true }, SSE))
    },

    cancelRun: (threadId: string, runId: string) => json<Run>('POST', `/threads/${id(threadId)}/runs/${id(runId)}/cancel`),

    /** The thread's latest run, if any. */
    lastRun: async (threadId: string): Promise<Run | null> =>
      (await json<List<Run>>('GET', `/threads/${id(threadId)}/runs?limit=1`)).data[0] ?? null,

    /** Long-polls a run until it ends or waits for this page (used when a stream broke off before the end). */
    async waitForRun (threadId: string, runId: string): Promise<Run> {
      while (true) {
        const run = await json<Run>('GET', `/threads/${id(threadId)}/runs/${id(runId)}?wait=20000`)
        if (!['queued', 'in_progress', 'cancelling'].includes(run.status)) return run
      }
    },

    transcribe (audio: Blob, filename: string): Promise<Transcription> {
      const form = new FormData()
      form.append('audio', audio, filename)
      return json<Transcription>('POST', '/audio/transcriptions', form)
    },

    getUsage: () => json<Usage>('GET', '/usage'),

    getFile: (fileId: string) => json<FileObject>('GET', `/files/${id(fileId)}`),

    uploadFile (file: File): Promise<FileObject> {
      const form = new FormData()
      form.append('purpose', 'user_data') // fields before the file, so the gateway has them when the bytes arrive
      form.append('file', file, file.name)
      return json<FileObject>('POST', '/files', form)
    }
  }
}

export type Client = ReturnType<typeof createClient>
