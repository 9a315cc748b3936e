import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyReply, FastifyRequest, FastifySchemaCompiler } from 'fastify'
import type { TSchema } from 'typebox'
import { createUploadReceiver, type FieldsValidator, type UploadReceiver } from '../../services/uploads/receiver.ts'

declare module 'fastify' {
  interface FastifyInstance {
    uploads: UploadReceiver & {
      /** onSend hook of upload routes: an answer given before the whole body arrived closes the connection, so the rest is never read. */
      closeUnread (request: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown>
      /** validatorCompiler of upload routes: the multipart body is documented in the schema but checked by receive(). */
      validatorCompiler: FastifySchemaCompiler<TSchema>
    }
  }
}

/** Multipart uploads (services/uploads/receiver.ts), with the hooks upload routes need. */
async function uploads (fastify: FastifyInstance) {
  const compile: FastifySchemaCompiler<TSchema> = route => fastify.validatorCompiler!(route)
  const receiver = await createUploadReceiver({
    config: fastify.config,
    log: fastify.log,
    compileFields: schema => compile({ schema, method: 'POST', url: '', httpPart: 'querystring' }) as FieldsValidator
  })
  fastify.decorate('uploads', {
    ...receiver,
    async closeUnread (request: FastifyRequest, reply: FastifyReply, payload: unknown) {
      if (!request.raw.complete) reply.header('connection', 'close')
      return payload
    },
    validatorCompiler: route => route.httpPart === 'body' ? () => true : compile(route)
  })
}

export default fp(uploads, { name: 'uploads', dependencies: ['validation'] })
