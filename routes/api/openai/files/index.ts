import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { API_ERRORS, IdempotencyHeadersSchema, ListOf, ListQuerySchema, errorResponses } from '../../../../schemas/common.ts'
import { FileBodySchema, FileDeletedSchema, FileFieldsSchema, FileParamsSchema, FileSchema, type FileView } from '../../../../schemas/uploads.ts'
import type { StoredReply } from '../../../../services/store/types.ts'

const tags = ['Files']

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
    const upload = await uploads.receive(request, 'file')
    let answer: { replay: StoredReply } | { file: FileView }
    try {
      const { purpose } = uploads.fields(FileFieldsSchema, upload.fields)
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
      summary: 'List the caller\'s files, newest first',
      querystring: ListQuerySchema,
      response: { 200: ListOf(FileSchema), ...errorResponses(...API_ERRORS) }
    }
  }, async function (request) {
    return files.list(request.caller.id, request.query)
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
