import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { API_ERRORS, Type, errorResponses } from '../../../../schemas/common.ts'
import {
  TranscriptionBodySchema, TranscriptionFieldsSchema, TranscriptionSchema, type Transcription, type TranscriptionFields
} from '../../../../schemas/uploads.ts'

const tags = ['Audio']

const plugin: FastifyPluginAsyncTypebox = async (fastify) => {
  const { uploads, transcriptions } = fastify

  fastify.post('/transcriptions', {
    config: { rateBucket: 'uploads' },
    validatorCompiler: uploads.validatorCompiler,
    onSend: uploads.closeUnread,
    schema: {
      tags,
      operationId: 'createTranscription',
      summary: 'Transcribe a recording (multipart: audio, language?, prompt?, duration?, response_format?)',
      consumes: ['multipart/form-data'],
      produces: ['application/json', 'text/plain'],
      body: TranscriptionBodySchema,
      response: {
        200: {
          description: 'The transcript: JSON, or text/plain for response_format=text',
          content: {
            'application/json': { schema: TranscriptionSchema },
            'text/plain': { schema: Type.String() }
          }
        },
        ...errorResponses(...API_ERRORS, 408, 413, 415, 502, 504)
      }
    }
  }, async function (request, reply) {
    const user = request.caller.id
    await transcriptions.ensureBudgetLeft(user)
    const audio = await uploads.receive(request, 'audio')
    let fields: TranscriptionFields
    let transcription: Transcription
    try {
      fields = uploads.fields(TranscriptionFieldsSchema, audio.fields)
      transcription = await transcriptions.transcribe(user, audio, fields)
    } finally {
      // Before answering, so no spool outlives the request.
      await audio.cleanup()
    }
    if (fields.response_format === 'text') return reply.type('text/plain; charset=utf-8').send(transcription.text)
    return reply.type('application/json; charset=utf-8').send(transcription)
  })
}

export default plugin
