import OpenAI from 'openai'
import type { FastifyBaseLogger } from 'fastify'
import type { Config } from './config.ts'
import { fromUpstream, notFound, quotaExceeded } from './errors.ts'
import type { FileRecord, Store } from './store/types.ts'
import { NO_TRACING, SpanKind, type Tracing } from './telemetry/tracing.ts'
import type { ReceivedUpload } from './uploads/spool.ts'
import { uploadRequestOptions, upstreamFile, withUploadRetries } from './uploads/upstream.ts'
import { listPage, type ListPage, type ListQuery } from '../schemas/common.ts'
import { readPage, type ForwardQuery } from './lists.ts'
import type { FileView } from '../schemas/uploads.ts'

export interface FileServiceDeps {
  openai: OpenAI
  store: Store
  config: Config
  log: FastifyBaseLogger
  clock: () => number
  tracing?: Tracing
}

export function toFileView (record: FileRecord): FileView {
  return {
    id: record.id,
    object: 'file',
    filename: record.filename,
    bytes: record.bytes,
    created_at: record.created_at,
    purpose: record.purpose,
    status: 'processed',
    status_details: null
  }
}

/** Store pages read for one filtered page of files (a filter that matches nothing must not scan forever). */
const MAX_SCAN_PAGES = 10

/**
 * Files the caller attaches to messages: uploaded to OpenAI from the spool, indexed per owner in the
 * store with the media type identified from the bytes (the thread service makes image parts from it).
 * Someone else's file is "not found", exactly like an unknown id.
 */
export function createFileService ({ openai, store, config, log, clock, tracing = NO_TRACING }: FileServiceDeps) {
  /** The caller's files read forwards, of one purpose when `purpose` is given (the cursor then is the last file read). */
  async function listForward (userId: string, query: ForwardQuery, purpose?: FileRecord['purpose']): Promise<ListPage<FileView>> {
    if (!purpose) {
      const page = await store.listFiles(userId, { limit: query.limit, order: query.order, after: query.after })
      return listPage(page.data.map(toFileView), page.hasMore)
    }
    const found: FileRecord[] = []
    let after = query.after
    let hasMore = true
    for (let scanned = 0; scanned < MAX_SCAN_PAGES && hasMore && found.length < query.limit; scanned++) {
      const page = await store.listFiles(userId, { limit: 100, order: query.order, after })
      for (const file of page.data) {
        after = file.id
        if (file.purpose === purpose) found.push(file)
        if (found.length === query.limit) break
      }
      hasMore = page.hasMore || after !== page.data.at(-1)?.id
    }
    const result = listPage(found.map(toFileView), hasMore)
    if (hasMore && after) result.last_id = after
    return result
  }

  async function owned (userId: string, fileId: string): Promise<FileRecord> {
    const file = await store.getFile(fileId)
    if (!file || file.owner !== userId) throw notFound('File')
    return file
  }

  const cap = config.FILES_MAX_PER_USER || undefined

  /** Without its owner record nobody could reach or delete the upstream copy: take it back. */
  async function takeBack (fileId: string): Promise<void> {
    await openai.files.delete(fileId).catch(cause => log.warn({ err: cause, fileId }, 'could not delete an unrecorded upstream file'))
  }

  /** Refuses an upload while the user holds FILES_MAX_PER_USER files (the store's insert holds the cap under races). */
  async function checkRoom (userId: string): Promise<void> {
    if (cap !== undefined && await store.countFiles(userId) >= cap) throw quotaExceeded('files', cap)
  }

  return {
    checkRoom,

    async create (userId: string, upload: ReceivedUpload, purpose: FileRecord['purpose']): Promise<FileView> {
      await checkRoom(userId)
      let created
      try {
        // What was uploaded, never its name or content.
        created = await tracing.span('upload_file', {
          kind: SpanKind.CLIENT,
          attributes: { 'gen_ai.provider.name': 'openai', 'assistant_gateway.file.purpose': purpose, 'assistant_gateway.file.media_type': upload.type.mime, 'assistant_gateway.file.bytes': upload.bytes }
        }, async span => {
          const file = await withUploadRetries(config, () =>
            openai.files.create({ file: upstreamFile(upload), purpose }, uploadRequestOptions(config, upload.bytes)))
          span?.setAttribute('assistant_gateway.file.id', file.id)
          return file
        })
      } catch (err) {
        throw fromUpstream(err, 'File')
      }
      const record: FileRecord = {
        id: created.id,
        owner: userId,
        filename: upload.filename,
        bytes: upload.bytes,
        purpose,
        mime: upload.type.mime,
        created_at: Math.floor(clock() / 1000)
      }
      let recorded: boolean
      try {
        recorded = await store.createFile(record, cap)
      } catch (err) {
        await takeBack(created.id)
        throw err
      }
      if (!recorded) {
        // A concurrent upload took the last place.
        await takeBack(created.id)
        throw quotaExceeded('files', cap!)
      }
      return toFileView(record)
    },

    /** The caller's files, of one purpose when `purpose` is given. */
    async list (userId: string, query: ListQuery, purpose?: FileRecord['purpose']): Promise<ListPage<FileView>> {
      return readPage(query, forward => listForward(userId, forward, purpose))
    },
    async get (userId: string, fileId: string): Promise<FileView> {
      return toFileView(await owned(userId, fileId))
    },

    async delete (userId: string, fileId: string): Promise<{ id: string, object: 'file', deleted: true }> {
      await owned(userId, fileId)
      try {
        await openai.files.delete(fileId)
      } catch (err) {
        // Already gone upstream (deleted there, or expired): the record still has to go.
        if (!(err instanceof OpenAI.NotFoundError)) throw fromUpstream(err, 'File')
      }
      await store.deleteFile(fileId)
      return { id: fileId, object: 'file', deleted: true }
    }
  }
}
export type FileService = ReturnType<typeof createFileService>
