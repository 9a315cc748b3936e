import { Type, type Static, ListQuerySchema, OpaqueIdSchema, UnixTimeSchema } from './common.ts'
import { ISO_639_1_FORMAT } from './iso-639-1.ts'

export const PROMPT_MAX_CHARS = 1000
/** Longer than any upload within the size limit could play (25 MiB at 16 kbit/s is 3.6 h). */
export const DURATION_MAX_SECONDS = 36_000

const Binary = (description: string) => Type.String({ format: 'binary', description })

/** Text fields of a transcription upload (multipart values arrive as strings and are coerced). */
export const TranscriptionFieldsSchema = Type.Object({
  language: Type.Optional(Type.String({ format: ISO_639_1_FORMAT, examples: ['ru'], description: 'ISO-639-1 code of the spoken language, lower case, e.g. "ru"' })),
  prompt: Type.Optional(Type.String({ maxLength: PROMPT_MAX_CHARS, description: `style or vocabulary hint (at most ${PROMPT_MAX_CHARS} characters)` })),
  duration: Type.Optional(Type.Number({ minimum: 0, maximum: DURATION_MAX_SECONDS, examples: [4.2], description: 'length of the recording in seconds, as the client measured it; echoed back and used for the audio budget (leave it out to have the gateway measure it)' })),
  response_format: Type.Enum(['json', 'text', 'verbose_json'], { default: 'json', description: 'json (default), text (text/plain), or verbose_json (json with duration, language and the segments known)' }),
  // What the official SDKs send as a matter of course: accepted, never a 400.
  model: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: 'a model of the allow-list (TRANSCRIPTION_MODELS) is used; any other is answered by the configured model, and the answer says which' })),
  temperature: Type.Optional(Type.Number({ minimum: 0, maximum: 1, description: 'sampling temperature, passed upstream' })),
  'timestamp_granularities[]': Type.Optional(Type.Array(Type.Enum(['word', 'segment']), { maxItems: 2, uniqueItems: true, description: 'accepted; segments and words are answered as far as the model reports them' }))
}, { additionalProperties: false })
export type TranscriptionFields = Static<typeof TranscriptionFieldsSchema>

/** The multipart body as documented; services/uploads parses and checks it while it streams. */
export const TranscriptionBodySchema = Type.Object({
  audio: Binary('the recording: flac, mp3, mp4, m4a, mpeg/mpga, ogg, wav or webm, identified by its content (required; `file` is accepted as an alias)'),
  file: Type.Optional(Binary('alias of audio')),
  ...TranscriptionFieldsSchema.properties,
  response_format: Type.Optional(TranscriptionFieldsSchema.properties.response_format)
})

export const TranscriptionSchema = Type.Object({
  text: Type.String(),
  duration: Type.Optional(Type.Number({ minimum: 0, description: 'seconds: the duration sent, else the one OpenAI reported or the WAV/FLAC header gives' })),
  language: Type.Optional(Type.String({ description: 'detected language when OpenAI reports one, else the language sent' })),
  model: Type.String({ description: 'the model that transcribed' }),
  segments: Type.Optional(Type.Array(Type.Unknown(), { description: 'verbose_json: the segments the model reported (none for gpt-transcribe)' }))
})
export type Transcription = Static<typeof TranscriptionSchema>

export const FilePurposeSchema = Type.Union([Type.Literal('user_data'), Type.Literal('vision')])

export const FileFieldsSchema = Type.Object({
  purpose: Type.Enum(['user_data', 'vision', 'assistants'], { default: 'user_data', description: 'user_data (default) or vision; assistants (what Assistants-era code sends) is stored as user_data' })
}, { additionalProperties: false })
export type FileFields = Static<typeof FileFieldsSchema>

export const FileBodySchema = Type.Object({
  file: Binary('pdf, png, jpeg, webp, gif, or UTF-8 text (plain, markdown, csv, json), identified by its content'),
  purpose: Type.Optional(FileFieldsSchema.properties.purpose)
})

export const FileSchema = Type.Object({
  id: Type.String(),
  object: Type.Literal('file'),
  filename: Type.String(),
  bytes: Type.Integer({ minimum: 0 }),
  created_at: UnixTimeSchema,
  purpose: FilePurposeSchema,
  status: Type.Literal('processed', { description: 'always processed: the file is usable once the upload answers' }),
  status_details: Type.Null()
})
export type FileView = Static<typeof FileSchema>

export const FileListQuerySchema = Type.Object({
  ...ListQuerySchema.properties,
  purpose: Type.Optional(Type.Enum(['user_data', 'vision', 'assistants'], { description: 'only the caller\'s files of this purpose (assistants = user_data)' }))
}, { additionalProperties: false })
export type FileListQuery = Static<typeof FileListQuerySchema>

export const FileParamsSchema = Type.Object({ fileId: OpaqueIdSchema })

export const FileDeletedSchema = Type.Object({
  id: Type.String(),
  object: Type.Literal('file'),
  deleted: Type.Literal(true)
})
