import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { API_ERRORS, IdempotencyHeadersSchema, ListOf, errorResponses } from '../../../../schemas/common.ts'
import {
  FileBodySchema, FileDeletedSchema, FileFieldsSchema, FileListQuerySchema, FileParamsSchema, FileSchema, type FileView
} from '../../../../schemas/uploads.ts'
import { ValidationFailed } from '../../../../services/errors.ts'
import type { StoredReply } from '../../../../services/store/types.ts'

const tags = ['Files']

/** Assistants-era code uploads with purpose "assistants": the same thing as user_data here. */
const storedPurpose = (purpose: 'user_data' | 'vision' | 'assistants') => purpose === 'assistants' ? 'user_data' : purpose

const plugin: FastifyPluginAsyncTypebox = async (fastify) => {
  const { uploads, files, idempotency } = fastify

  fastify.post('/', {
    config: { rateBucket: 'uploads' },
    validatorCompiler: uploads.validatorCompiler,
    onSend: uploads.closeUnread,
    schema: {
      tags,
      operationId: 'createFile',
      summary: 'Upload a file to attach to messages (multipart: file, purpose?)',
      consumes: ['multipart/form-data'],
      headers: IdempotencyHeadersSchema,
      body: FileBodySchema,
      response: { 201: FileSchema, ...errorResponses(...API_ERRORS, 408, 409, 413, 415, 422, 502, 504) }
    }
  }, async function (request, reply) {
    // At the cap, refused before the body is read; with an Idempotency-Key it may be a replay, decided once the body is in.
    if (request.headers['idempotency-key'] === undefined) await files.checkRoom(request.caller.id)
    const upload = await uploads.receive(request, 'file')
    let answer: { replay: StoredReply } | { file: FileView }
    try {
      const purpose = storedPurpose(uploads.fields(FileFieldsSchema, upload.fields).purpose)
      // Claimed once the body is in, so the content hash is part of the request's fingerprint.
      const replay = await idempotency.begin(request, { purpose, filename: upload.filename, sha256: upload.sha256 })
      answer = replay ? { replay } : { file: await files.create(request.caller.id, upload, purpose) }
    } finally {
      // Before answering, so no spool outlives the request.
      await upload.cleanup()
    }
    return 'replay' in answer ? idempotency.replay(reply, answer.replay) : reply.code(201).send(answer.file)
  })

  fastify.get('/', {
    schema: {
      tags,
      operationId: 'listFiles',
      summary: 'List the caller\'s files, newest first (?purpose= for one purpose)',
      querystring: FileListQuerySchema,
      response: { 200: ListOf(FileSchema), ...errorResponses(...API_ERRORS) }
    }
  }, async function (request) {
    const { purpose, ...page } = request.query
    return files.list(request.caller.id, page, purpose && storedPurpose(purpose))
  })

  fastify.get('/:fileId', {
    schema: {
      tags,
      operationId: 'getFile',
      summary: 'Get one of the caller\'s files',
      params: FileParamsSchema,
      response: { 200: FileSchema, ...errorResponses(...API_ERRORS, 404) }
    }
  }, async function (request) {
    return files.get(request.caller.id, request.params.fileId)
  })

  fastify.get('/:fileId/content', {
    schema: {
      tags,
      operationId: 'getFileContent',
      summary: 'Not served: the gateway does not serve file downloads (a 400 that says so)',
      params: FileParamsSchema,
      response: { ...errorResponses(...API_ERRORS, 404) }
    }
  }, async function (request) {
    await files.get(request.caller.id, request.params.fileId)
    throw new ValidationFailed('The gateway does not serve file downloads: files are uploaded for the assistants to read, and OpenAI does not return user_data files either')
  })

  fastify.delete('/:fileId', {
    schema: {
      tags,
      operationId: 'deleteFile',
      summary: 'Delete one of the caller\'s files, upstream too',
      params: FileParamsSchema,
      response: { 200: FileDeletedSchema, ...errorResponses(...API_ERRORS, 404, 502, 504) }
    }
  }, async function (request) {
    return files.delete(request.caller.id, request.params.fileId)
  })
}

export default plugin
