import OpenAI from 'openai'
import type { FastifyBaseLogger } from 'fastify'
import type { Response, ResponseCreateParamsBase, ResponseInputItem, ResponseStreamEvent } from 'openai/resources/responses/responses'
import type { Stream } from 'openai/core/streaming'
import type { Config } from '../config.ts'
import { endsResponse } from './relay.ts'
import type { ResponseEnds } from './response-ends.ts'

const TERMINAL_UPSTREAM = new Set(['completed', 'failed', 'cancelled', 'incomplete'])
/** A stream that says nothing for this long is abandoned for polling (reasoning can pause output). */
const STREAM_IDLE_MS = 30_000
const STREAM_RESUMES = 2
const POLL_CALL_TIMEOUT_MS = 15_000
const CREATE_ATTEMPTS = 3
/**
 * Runs beyond the stream limit are polled; their polls are paced so that, together, they stay near
 * this many per second however many runs wait (OpenAI counts polls against the request rate limit).
 */
const OVERFLOW_POLLS_PER_SECOND = 50
/** Unstreamed responses this process created whose first wait has not begun: the first read is skipped for them. */
const FRESH_MAX = 10_000

export type ResponseStream = Stream<ResponseStreamEvent>

export interface AwaitHooks {
  /** Called (and awaited) as soon as a stream names its response, before anything else happens. */
  onCreated (responseId: string): Promise<void>
  onEvent (event: ResponseStreamEvent): void
}

/** Carries an error thrown by a hook through the stream handling, which would otherwise take it for a broken stream. */
class HookFailed extends Error {
  readonly error: unknown
  constructor (error: unknown) {
    super('hook failed')
    this.error = error
  }
}

export function sleep (ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason)
    const timer = setTimeout(() => { signal.removeEventListener('abort', onAbort); resolve() }, ms)
    const onAbort = () => { clearTimeout(timer); reject(signal.reason) }
    signal.addEventListener('abort', onAbort, { once: true })
  })
}

/**
 * The upstream side of a run's rounds: creating a background response, and learning of its end —
 * from its stream while one is open (resumed with starting_after when it drops), from OpenAI's
 * response.* webhook when `ends` is given (OPENAI_WEBHOOK_SECRET set), else by polling, the path that
 * always works and the fallback for a webhook that never comes. Open streams are counted (past the
 * limit runs are not streamed) and watched by one ticker that abandons silent ones.
 */
export function createUpstreamResponses ({ openai, config, log, ends = null }: { openai: OpenAI, config: Config, log: FastifyBaseLogger, ends?: ResponseEnds | null }) {
  /** Open upstream streams and when each last said something. */
  const streams = new Map<ResponseStream, number>()
  /** Keys (run ids) of responses being polled: their number paces every poll. */
  const polling = new Set<string>()
  /** Unstreamed responses just created here: still queued, so their first wait starts without a read. */
  const fresh = new Set<string>()

  const ticker = setInterval(() => {
    const now = Date.now()
    for (const [stream, lastEventAt] of streams) if (now - lastEventAt > STREAM_IDLE_MS) stream.controller.abort()
  }, STREAM_IDLE_MS / 3)
  ticker.unref()

  /**
   * Creates the upstream response. Retried only while the upstream has said it did not create it
   * (429/5xx); a retry that finds the conversation locked means an earlier attempt did create it.
   */
  async function create (params: ResponseCreateParamsBase, signal: AbortSignal): Promise<ResponseStream | Response> {
    let lastError: unknown
    for (let attempt = 1; attempt <= CREATE_ATTEMPTS; attempt++) {
      try {
        const created = await openai.responses.create(params, { signal, maxRetries: 0 })
        if (ends && !('controller' in created)) {
          fresh.add(created.id)
          if (fresh.size > FRESH_MAX) fresh.delete(fresh.values().next().value as string)
        }
        return created
      } catch (err) {
        lastError = err
        const retryable = err instanceof OpenAI.APIConnectionError ||
          (err instanceof OpenAI.APIError && err.status !== undefined && (err.status === 429 || err.status >= 500))
        if (!retryable || attempt === CREATE_ATTEMPTS || signal.aborted) throw err
        await sleep(200 * attempt ** 2, signal)
      }
    }
    throw lastError
  }

  async function consume (stream: ResponseStream, state: { id: string | null, lastSeq: number }, signal: AbortSignal, hooks: AwaitHooks, key: string): Promise<Response | null> {
    const onAbort = () => stream.controller.abort()
    signal.addEventListener('abort', onAbort, { once: true })
    streams.set(stream, Date.now())
    try {
      for await (const event of stream) {
        streams.set(stream, Date.now())
        state.lastSeq = event.sequence_number
        if (event.type === 'response.created' && !state.id) {
          state.id = event.response.id
          await hooks.onCreated(event.response.id).catch(err => { throw new HookFailed(err) })
        }
        hooks.onEvent(event)
        if (endsResponse(event)) return event.response
      }
      return null
    } catch (err) {
      if (err instanceof HookFailed || signal.aborted) throw err
      log.info({ err, runId: key }, 'upstream stream ended early')
      return null
    } finally {
      streams.delete(stream)
      signal.removeEventListener('abort', onAbort)
    }
  }

  /** The always-available path: retrieve until terminal, fast at first, backing off, honouring openai-poll-after-ms. */
  async function pollUntilEnd (responseId: string, signal: AbortSignal, key = responseId): Promise<Response> {
    let delay = config.RUN_POLL_MIN_MS
    polling.add(key)
    try {
      for (;;) {
        try {
          const { data, response } = await openai.responses.retrieve(responseId, {}, { signal, timeout: POLL_CALL_TIMEOUT_MS }).withResponse()
          if (data.status && TERMINAL_UPSTREAM.has(data.status)) return data
          const hint = Number(response.headers.get('openai-poll-after-ms'))
          await sleep(Number.isFinite(hint) && hint > 0 ? Math.min(hint, config.RUN_POLL_MAX_MS * 5) : delay, signal)
        } catch (err) {
          if (signal.aborted) throw err
          if (err instanceof OpenAI.APIError && err.status === 404) throw err
          log.warn({ err, responseId }, 'poll failed; retrying')
          await sleep(delay, signal)
        }
        // Backs off to RUN_POLL_MAX_MS, or slower when so many runs poll that they would flood upstream.
        const paced = Math.ceil(polling.size * 1000 / OVERFLOW_POLLS_PER_SECOND)
        delay = Math.min(Math.ceil(delay * 1.6), Math.max(config.RUN_POLL_MAX_MS, paced))
      }
    } finally {
      polling.delete(key)
    }
  }

  /** Paced so that, however many runs wait, their reads together stay near OVERFLOW_POLLS_PER_SECOND. */
  const pacedDelay = (ms: number) => Math.max(ms, Math.ceil(polling.size * 1000 / OVERFLOW_POLLS_PER_SECOND))

  /**
   * With webhooks: reads the response when its webhook says it changed, or after RUN_WEBHOOK_POLL_MS
   * without one (a lost delivery; OpenAI retries failed ones, so that is rare), then again at that pace.
   * A response this process has just created is not read first: it is queued, and its webhook comes.
   */
  async function awaitWebhook (ends: ResponseEnds, responseId: string, signal: AbortSignal, key: string): Promise<Response> {
    polling.add(key)
    try {
      let read = !fresh.delete(responseId)
      for (;;) {
        let wait = config.RUN_WEBHOOK_POLL_MS
        if (read) {
          try {
            const data = await openai.responses.retrieve(responseId, {}, { signal, timeout: POLL_CALL_TIMEOUT_MS })
            if (data.status && TERMINAL_UPSTREAM.has(data.status)) return data
          } catch (err) {
            if (signal.aborted) throw err
            if (err instanceof OpenAI.APIError && err.status === 404) throw err
            log.warn({ err, responseId }, 'reading the response failed; retrying')
            // The webhook that woke this read may already be spent: retry at the polling pace.
            wait = config.RUN_POLL_MAX_MS
          }
        }
        read = true
        await ends.wait(responseId, pacedDelay(wait), signal)
      }
    } finally {
      polling.delete(key)
    }
  }

  return {
    create,
    pollUntilEnd,
    /** Upstream streams open now: past RUN_MAX_UPSTREAM_STREAMS, runs no client streams are polled. */
    openStreams: () => streams.size,
    retrieve: (responseId: string, signal: AbortSignal) => openai.responses.retrieve(responseId, {}, { signal, timeout: POLL_CALL_TIMEOUT_MS }),
    cancel: (responseId: string) => openai.responses.cancel(responseId),
    /** Adds items to a thread's conversation outside a response (the outputs of calls a run left open). */
    append: (threadId: string, items: ResponseInputItem[]) => openai.conversations.items.create(threadId, { items }),

    /**
     * Waits for a response to end: from `stream` while it is open (resumed with starting_after when it
     * drops), then by polling `knownId` or the id the stream named. Returns null when `signal` is aborted
     * while `stop` is not (the run was woken: cancel, deadline), or when the stream broke before naming
     * its response (the create may or may not have happened). Errors thrown by the hooks propagate.
     */
    async awaitEnd (opts: { knownId: string | null, stream: ResponseStream | null, signal: AbortSignal, stop: AbortSignal, key: string, hooks: AwaitHooks }): Promise<Response | null> {
      const { stream, signal, stop, key, hooks } = opts
      const state = { id: opts.knownId, lastSeq: -1 }
      try {
        if (stream) {
          let final = await consume(stream, state, signal, hooks, key)
          for (let resume = 0; !final && state.id && resume < STREAM_RESUMES && !signal.aborted; resume++) {
            const resumed = await openai.responses.retrieve(state.id, { stream: true, starting_after: state.lastSeq, include_obfuscation: false }, { signal, maxRetries: 1 })
              .catch(err => { log.info({ err, runId: key }, 'could not resume the upstream stream'); return null })
            if (!resumed) break
            final = await consume(resumed, state, signal, hooks, key)
          }
          if (final) return final
        }
        if (!state.id) return null
        return ends ? await awaitWebhook(ends, state.id, signal, key) : await pollUntilEnd(state.id, signal, key)
      } catch (err) {
        if (err instanceof HookFailed) throw err.error
        if (signal.aborted && !stop.aborted) return null
        throw err
      }
    },

    close (): void {
      clearInterval(ticker)
    }
  }
}
export type UpstreamResponses = ReturnType<typeof createUpstreamResponses>
