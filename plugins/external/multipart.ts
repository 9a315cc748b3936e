import multipart from '@fastify/multipart'
import type { FastifyInstance } from 'fastify'

/**
 * Multipart parsing for uploads. Limits are the outer bound; each upload route passes tighter
 * per-request limits. Files are consumed as streams, never attached to the body.
 * @see https://github.com/fastify/fastify-multipart
 */
export const autoConfig = (fastify: FastifyInstance) => ({
  limits: {
    fieldNameSize: 64,
    fieldSize: 8 * 1024, // the longest text field is a transcription prompt
    fields: 8,
    fileSize: Math.max(fastify.config.UPLOAD_AUDIO_MAX_BYTES, fastify.config.UPLOAD_FILE_MAX_BYTES),
    files: 1,
    parts: 10,
    headerPairs: 50
  },
  throwFileSizeLimit: true
})

export default multipart
