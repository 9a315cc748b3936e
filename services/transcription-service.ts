import OpenAI from 'openai'
import type { FastifyBaseLogger } from 'fastify'
import type { TranscriptionCreateResponse } from 'openai/resources/audio/transcriptions'
import { ZERO_USAGE, type BudgetService } from './budget-service.ts'
import { transcriptionModels, type Config } from './config.ts'
import { ValidationFailed, fromUpstream, withDetails } from './errors.ts'
import { newId } from './ids.ts'
import { audioSeconds } from './uploads/audio-duration.ts'
import type { AudioKind } from './uploads/media-types.ts'
import type { ReceivedUpload } from './uploads/spool.ts'
import type { Metrics } from './metrics.ts'
import { errorType, NO_TRACING, SpanKind, type Tracing } from './telemetry/tracing.ts'
import { uploadRequestOptions, upstreamFile, withUploadRetries } from './uploads/upstream.ts'
import type { Transcription, TranscriptionFields } from '../schemas/uploads.ts'

export interface TranscriptionServiceDeps {
  openai: OpenAI
  budgets: BudgetService
  config: Config
  log: FastifyBaseLogger
  clock: () => number
  metrics?: Metrics
  tracing?: Tracing
}

/** A reservation outlives the longest transcription call (retries included); the sweeper frees it after a crash. */
const RESERVATION_TTL_MS = 60 * 60_000

const roundUp = (seconds: number) => Math.ceil(seconds * 100) / 100

/** Seconds OpenAI says it billed or heard, when it says so (whisper-1, verbose/diarized answers). */
function reportedSeconds (result: TranscriptionCreateResponse): number | null {
  if ('usage' in result && result.usage?.type === 'duration') return result.usage.seconds
  if ('duration' in result && typeof result.duration === 'number') return result.duration
  return null
}

function detectedLanguage (result: TranscriptionCreateResponse): string | undefined {
  if ('language' in result && typeof result.language === 'string' && result.language) return result.language
  if ('languages' in result && Array.isArray(result.languages)) return result.languages[0]?.code
  return undefined
}

function upstreamError (err: unknown): Error {
  // A 400 about the file means OpenAI could not use the audio (corrupt, too short): the caller's to fix.
  if (err instanceof OpenAI.BadRequestError && (err.param === 'file' || /audio|file/i.test(err.code ?? ''))) {
    return withDetails(new ValidationFailed('OpenAI could not process the audio (unreadable or too short)'), { cause: err })
  }
  return fromUpstream(err, 'Transcription')
}

/**
 * Transcribes spooled audio with the configured model. The audio budget is reserved before anything
 * is sent: the length the container states (every accepted format has one, except fragmented MP4),
 * else the declared duration, else an upper bound from the byte count; a stated or declared length is
 * never trusted below what the byte count allows at 320 kbit/s. It is settled to the seconds OpenAI
 * reports when it reports seconds (whisper-1, verbose answers); gpt-transcribe reports tokens, so the
 * reserved length stands. Released on failure.
 */
export function createTranscriptionService ({ openai, budgets, config, log, clock, metrics, tracing = NO_TRACING }: TranscriptionServiceDeps) {
  const allowed = transcriptionModels(config)

  return {
    /**
     * Refuses a caller whose settled audio leaves no room before the upload is read at all; audio held by
     * transcriptions in flight does not refuse here (the reservation below waits for it).
     */
    async ensureBudgetLeft (userId: string): Promise<void> {
      await budgets.ensureAudioLeft(userId)
    },

    async transcribe (userId: string, audio: ReceivedUpload, fields: TranscriptionFields): Promise<Transcription> {
      // The SDKs always name a model (whisper-1 in Assistants-era code): one of ours is honoured, any other answered by ours.
      const model = fields.model && allowed.has(fields.model) ? fields.model : config.TRANSCRIPTION_MODEL
      const length = await audioSeconds(audio.type.kind as AudioKind, audio.path, audio.head, audio.bytes)
      const stated = length.measured ?? fields.duration
      const reserved = roundUp(stated !== undefined ? Math.max(stated, length.min) : length.max)
      const reservationId = newId('rsv')
      await budgets.reserveAudio({ id: reservationId, user: userId, seconds: reserved, expiresAt: clock() + RESERVATION_TTL_MS }, { waitMs: config.BUDGET_WAIT_MS })

      let result: TranscriptionCreateResponse
      const started = performance.now()
      const operation = { operation: 'transcription', requestModel: model }
      try {
        // The audio's length and format on the span; its words only with content capture (redacted).
        result = await tracing.span(`transcription ${model}`, {
          kind: SpanKind.CLIENT,
          attributes: {
            'gen_ai.operation.name': 'transcription',
            'gen_ai.provider.name': 'openai',
            'gen_ai.request.model': model,
            'assistant_gateway.audio.format': audio.type.kind,
            'assistant_gateway.audio.bytes': audio.bytes,
            'assistant_gateway.audio.seconds': reserved
          }
        }, async span => {
          const answer = await withUploadRetries(config, () => openai.audio.transcriptions.create({
            file: upstreamFile(audio),
            model,
            // Always JSON upstream (gpt-transcribe answers nothing else); text/plain is made here.
            response_format: 'json',
            ...(fields.language ? { language: fields.language } : {}),
            ...(fields.prompt ? { prompt: fields.prompt } : {}),
            ...(fields.temperature !== undefined ? { temperature: fields.temperature } : {})
          }, uploadRequestOptions(config, audio.bytes)))
          if (tracing.captureContent) {
            const text = tracing.content(JSON.stringify([{ role: 'assistant', parts: [{ type: 'text', content: answer.text }] }]))
            if (text) span?.setAttribute('gen_ai.output.messages', text)
          }
          return answer
        })
        metrics?.genAi.duration(operation, (performance.now() - started) / 1000)
      } catch (err) {
        metrics?.genAi.duration(operation, (performance.now() - started) / 1000, errorType(err))
        await budgets.release(reservationId).catch(cause => log.error({ err: cause }, 'could not release an audio reservation'))
        throw upstreamError(err)
      }

      const reported = reportedSeconds(result)
      try {
        await budgets.settle(reservationId, { user: userId, assistant: 'transcription', model, usage: ZERO_USAGE, audioSeconds: reported ?? reserved, runs: 0 })
      } catch (err) {
        // The caller still gets the text; the reservation lapses and this call goes unrecorded.
        log.error({ err, reservationId }, 'could not settle an audio reservation')
      }
      // The SPA's own figure is echoed when it sent one.
      const duration = fields.duration ?? reported ?? (length.measured !== null ? roundUp(length.measured) : undefined)
      const language = detectedLanguage(result) ?? fields.language
      return {
        text: result.text,
        ...(duration !== undefined ? { duration } : {}),
        ...(language ? { language } : {}),
        model,
        // Upstream is asked for json, which carries no segments: a verbose answer says so with an empty list.
        ...(fields.response_format === 'verbose_json' ? { segments: [] } : {})
      }
    }
  }
}
export type TranscriptionService = ReturnType<typeof createTranscriptionService>
