import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { createFileService, type FileService } from '../../services/file-service.ts'

declare module 'fastify' {
  interface FastifyInstance { files: FileService }
}

async function files (fastify: FastifyInstance) {
  const { openai, store, config, log, clock, tracing } = fastify
  fastify.decorate('files', createFileService({ openai, store, config, log, clock, tracing }))
}

export default fp(files, { name: 'files', dependencies: ['openai', 'store', 'tracing'] })
