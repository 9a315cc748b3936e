import multipart from '@fastify/multipart'
import type { FastifyInstance } from 'fastify'

/**
 * Accepts multipart/form-data (request.isMultipart()). The upload routes read the body with
 * services/uploads/spool.ts, which drives the same parser (busboy) itself so it can bound the whole
 * request, which this plugin does not (GHSA-3pm6-wjfr-3v47); these limits only cover request.parts().
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
