import { mkdir, readdir, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyBaseLogger, FastifyRequest } from 'fastify'
import type { Static, TSchema } from 'typebox'
import { FileFieldsSchema, TranscriptionFieldsSchema } from '../../schemas/uploads.ts'
import type { Config } from '../config.ts'
import { UnsupportedMediaType } from '../errors.ts'
import { validationFailed, type ValidationIssue } from '../http-errors.ts'
import { AUDIO_KINDS, FILE_KINDS } from './media-types.ts'
import { SPOOL_HOST, SPOOL_PREFIX, receiveUpload, spoolOwner, type ReceivedUpload, type UploadSpec } from './spool.ts'

export type UploadKind = 'audio' | 'file'

/** An Ajv validator of an upload's text fields: coercing like a query string, with defaults. */
export type FieldsValidator = ((data: unknown) => unknown) & { errors?: unknown }

/**
 * Spool directories of another host (a shared UPLOAD_TMP_DIR) or of no known process older than this were
 * left by a process that died; nothing legitimate lives so long (UPLOAD_TIMEOUT_MS is at most an hour).
 */
const STALE_SPOOL_MS = 60 * 60_000

function running (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * Whether a spool was left by a process that is gone: on this host, one whose process is not running,
 * or one with this very process id made before this process started (a container's PID 1 restarted);
 * anything else once it is stale.
 */
function leftBehind (name: string, mtimeMs: number, now: number): boolean {
  const owner = spoolOwner(name)
  if (owner?.host !== SPOOL_HOST) return now - mtimeMs > STALE_SPOOL_MS
  if (owner.pid === process.pid) return mtimeMs < performance.timeOrigin
  return !running(owner.pid)
}

async function removeLeftSpools (dir: string, now: number): Promise<number> {
  let removed = 0
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (!name.startsWith(SPOOL_PREFIX)) continue
    const path = join(dir, name)
    const info = await stat(path).catch(() => null)
    if (info?.isDirectory() && leftBehind(name, info.mtimeMs, now)) {
      await rm(path, { recursive: true, force: true })
      removed++
    }
  }
  return removed
}

/**
 * Multipart uploads as the routes take them: the body spooled, bounded and identified by its bytes
 * (spool.ts), and the text fields checked like a query string. Start-up removes the spools a dead process
 * of this host left behind, at once, and other hosts' stale ones.
 */
export async function createUploadReceiver ({ config, compileFields, log }: { config: Config, compileFields: (schema: TSchema) => FieldsValidator, log: FastifyBaseLogger }) {
  const dir = config.UPLOAD_TMP_DIR ?? tmpdir()
  if (config.UPLOAD_TMP_DIR) await mkdir(dir, { recursive: true, mode: 0o700 })
  const left = await removeLeftSpools(dir, Date.now())
  if (left > 0) log.warn({ dir, removed: left }, 'removed upload spools left by a process that died')

  const specs: Record<UploadKind, UploadSpec> = {
    audio: { fileFields: ['audio', 'file'], fields: Object.keys(TranscriptionFieldsSchema.properties), accept: AUDIO_KINDS, maxFileBytes: config.UPLOAD_AUDIO_MAX_BYTES },
    file: { fileFields: ['file'], fields: Object.keys(FileFieldsSchema.properties), accept: FILE_KINDS, maxFileBytes: config.UPLOAD_FILE_MAX_BYTES }
  }
  const validators = new Map<TSchema, FieldsValidator>()

  return {
    /** The route's multipart body, spooled, bounded and identified by its bytes. */
    async receive (request: FastifyRequest, kind: UploadKind): Promise<ReceivedUpload> {
      if (!request.isMultipart()) throw new UnsupportedMediaType('This route takes multipart/form-data')
      return receiveUpload(request.raw, specs[kind], { dir, timeoutMs: config.UPLOAD_TIMEOUT_MS })
    },

    /** The upload's text fields checked like a query string (coerced, defaults applied) against `schema`. */
    fields<T extends TSchema> (schema: T, values: Record<string, string | string[]>): Static<T> {
      let validate = validators.get(schema)
      if (!validate) validators.set(schema, validate = compileFields(schema))
      const data: Record<string, unknown> = { ...values }
      if (validate(data) === false) throw validationFailed(validate.errors as ValidationIssue[], 'body')
      return data as Static<T>
    }
  }
}
export type UploadReceiver = Awaited<ReturnType<typeof createUploadReceiver>>
