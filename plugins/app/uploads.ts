import { mkdir, readdir, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyReply, FastifyRequest, FastifySchemaCompiler } from 'fastify'
import type { Static, TSchema } from 'typebox'
import { FileFieldsSchema, TranscriptionFieldsSchema } from '../../schemas/uploads.ts'
import { IdempotencyInProgress, IdempotencyKeyReused, UnsupportedMediaType, ValidationFailed } from '../../services/errors.ts'
import { createFileService, type FileService } from '../../services/file-service.ts'
import { createTranscriptionService, type TranscriptionService } from '../../services/transcription-service.ts'
import { AUDIO_KINDS, FILE_KINDS } from '../../services/uploads/media-types.ts'
import type { StoredReply } from '../../services/store/types.ts'
import { SPOOL_PREFIX, receiveUpload, type ReceivedUpload, type UploadSpec } from '../../services/uploads/spool.ts'
import { validationMessage } from './errors.ts'
import { fingerprint } from './idempotency.ts'

export type UploadKind = 'audio' | 'file'

export interface Uploads {
  /** The route's multipart body, spooled, bounded and identified by its bytes (services/uploads/spool.ts). */
  receive (request: FastifyRequest, kind: UploadKind): Promise<ReceivedUpload>
  /** The upload's text fields checked like a query string (coerced, defaults applied) against `schema`. */
  fields<T extends TSchema> (schema: T, values: Record<string, string>): Static<T>
  /**
   * Idempotency-Key for an upload, claimed once the body is in, so the content hash is part of the
   * request's fingerprint (the generic preHandler runs before a multipart body is read). Returns the
   * stored answer to replay, or null to go ahead (the idempotency plugin then stores the answer).
   */
  claimIdempotency (request: FastifyRequest, body: Record<string, unknown>): Promise<StoredReply | null>
  replay (reply: FastifyReply, stored: StoredReply): FastifyReply
  /** onSend hook of upload routes: an answer given before the whole body arrived closes the connection, so the rest is never read. */
  closeUnread (request: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown>
  /** validatorCompiler of upload routes: the multipart body is documented in the schema but checked by receive(). */
  validatorCompiler: FastifySchemaCompiler<TSchema>
}

declare module 'fastify' {
  interface FastifyInstance {
    uploads: Uploads
    transcriptions: TranscriptionService
    files: FileService
  }
}

/** Spool directories older than this were left by a process that died; nothing legitimate lives so long. */
const STALE_SPOOL_MS = 60 * 60_000

async function removeStaleSpools (dir: string, now: number): Promise<number> {
  let removed = 0
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (!name.startsWith(SPOOL_PREFIX)) continue
    const path = join(dir, name)
    const info = await stat(path).catch(() => null)
    if (info?.isDirectory() && now - info.mtimeMs > STALE_SPOOL_MS) {
      await rm(path, { recursive: true, force: true })
      removed++
    }
  }
  return removed
}

async function uploads (fastify: FastifyInstance) {
  const { config, store, openai, budgets, log, clock } = fastify
  const spoolDir = config.UPLOAD_TMP_DIR ?? tmpdir()
  if (config.UPLOAD_TMP_DIR) await mkdir(spoolDir, { recursive: true, mode: 0o700 })
  const stale = await removeStaleSpools(spoolDir, Date.now())
  if (stale > 0) log.warn({ dir: spoolDir, removed: stale }, 'removed upload spools left by an earlier process')

  const specs: Record<UploadKind, UploadSpec> = {
    audio: { fileFields: ['audio', 'file'], fields: Object.keys(TranscriptionFieldsSchema.properties), accept: AUDIO_KINDS, maxFileBytes: config.UPLOAD_AUDIO_MAX_BYTES },
    file: { fileFields: ['file'], fields: Object.keys(FileFieldsSchema.properties), accept: FILE_KINDS, maxFileBytes: config.UPLOAD_FILE_MAX_BYTES }
  }
  const validators = new Map<TSchema, ReturnType<FastifySchemaCompiler<TSchema>>>()
  const idempotencyTtlMs = config.IDEMPOTENCY_TTL_SECONDS * 1000
  // As plugins/app/idempotency.ts: a claim left by a crashed request must not block retries forever.
  const inFlightTtlMs = Math.max(config.RUN_WAIT_TIMEOUT_MS, config.UPLOAD_TIMEOUT_MS, config.REQUEST_TIMEOUT_MS) + 60_000

  const service: Uploads = {
    async receive (request, kind) {
      if (!request.isMultipart()) throw new UnsupportedMediaType('This route takes multipart/form-data')
      return receiveUpload(request.raw, specs[kind], { dir: spoolDir, timeoutMs: config.UPLOAD_TIMEOUT_MS })
    },

    fields<T extends TSchema> (schema: T, values: Record<string, string>): Static<T> {
      let validate = validators.get(schema)
      if (!validate) {
        validate = fastify.validatorCompiler!({ schema, method: 'POST', url: '', httpPart: 'querystring' })
        validators.set(schema, validate)
      }
      const data: Record<string, unknown> = { ...values }
      if (validate(data) === false) {
        throw new ValidationFailed(validationMessage((validate as unknown as { errors: Parameters<typeof validationMessage>[0] }).errors, 'body'))
      }
      return data as Static<T>
    },

    async claimIdempotency (request, body) {
      const raw = request.headers['idempotency-key']
      const key = Array.isArray(raw) ? raw[0] : raw
      if (!key || !request.caller) return null
      request.body = body
      const claim = await store.claimIdempotency(request.caller.id, key, fingerprint(request), idempotencyTtlMs, inFlightTtlMs)
      switch (claim.state) {
        case 'new':
          // The idempotency plugin's onSend hook stores the answer (or abandons the key on an error).
          request.idempotencyKey = key
          return null
        case 'in_progress': throw new IdempotencyInProgress('A request with this Idempotency-Key is still being processed')
        case 'mismatch': throw new IdempotencyKeyReused('This Idempotency-Key was used with a different request')
        case 'replay': return claim.reply
      }
    },

    replay (reply, stored) {
      return reply.code(stored.status).headers(stored.headers).header('idempotent-replayed', 'true').send(stored.body)
    },

    async closeUnread (request, reply, payload) {
      if (!request.raw.complete) reply.header('connection', 'close')
      return payload
    },

    validatorCompiler: (route) => route.httpPart === 'body' ? () => true : fastify.validatorCompiler!(route)
  }

  fastify.decorate('uploads', service)
  fastify.decorate('transcriptions', createTranscriptionService({ openai, budgets, config, log, clock }))
  fastify.decorate('files', createFileService({ openai, store, config, log, clock }))
}

export default fp(uploads, { name: 'uploads', dependencies: ['runs', 'store', 'openai', 'validation', 'idempotency'] })
