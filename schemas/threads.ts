import { Type, type Static, ListQuerySchema, MetadataSchema, OpaqueIdSchema, UnixTimeSchema } from './common.ts'

export const MESSAGE_MAX_CHARS = 32_000
export const INITIAL_MESSAGES_MAX = 20
export const ATTACHMENTS_MAX = 10

export const ThreadSchema = Type.Object({
  id: Type.String(),
  object: Type.Literal('thread'),
  created_at: UnixTimeSchema,
  title: Type.Union([Type.String(), Type.Null()]),
  metadata: Type.Record(Type.String(), Type.String()),
  tool_resources: Type.Null({ description: 'always null: files are attached to messages' })
})
export type Thread = Static<typeof ThreadSchema>

export const ThreadParamsSchema = Type.Object({ threadId: OpaqueIdSchema })

const TitleSchema = Type.Union([Type.String({ minLength: 1, maxLength: 256 }), Type.Null()], { description: 'null clears it' })

const TextPartSchema = Type.Object({
  type: Type.Literal('text'),
  text: Type.String({ minLength: 1, maxLength: MESSAGE_MAX_CHARS })
}, { additionalProperties: false })

/** An image the caller uploaded (POST /files), shown to the model with the message (the Assistants API's image_file part). */
const ImageFilePartSchema = Type.Object({
  type: Type.Literal('image_file'),
  image_file: Type.Object({
    file_id: OpaqueIdSchema,
    detail: Type.Optional(Type.Union([Type.Literal('auto'), Type.Literal('low'), Type.Literal('high')]))
  }, { additionalProperties: false })
}, { additionalProperties: false })

export const MessageContentSchema = Type.Union([
  Type.String({ minLength: 1, maxLength: MESSAGE_MAX_CHARS }),
  Type.Array(Type.Union([TextPartSchema, ImageFilePartSchema]), { minItems: 1, maxItems: 10 })
], { description: `text (1-${MESSAGE_MAX_CHARS} characters), or text parts (${MESSAGE_MAX_CHARS} characters in all) and image_file parts of the caller's own images` })
export type MessageContent = Static<typeof MessageContentSchema>

/** What Assistants-era code attaches a file for: accepted and recorded (the model reads attachments either way). */
const AttachmentToolSchema = Type.Object({ type: Type.Union([Type.Literal('code_interpreter'), Type.Literal('file_search')]) }, { additionalProperties: true })

export const AttachmentSchema = Type.Object({
  file_id: OpaqueIdSchema,
  tools: Type.Optional(Type.Array(AttachmentToolSchema, { maxItems: 2 }))
}, { additionalProperties: false })
export type Attachment = Static<typeof AttachmentSchema>

const RoleSchema = Type.Enum(['user', 'assistant'], { description: 'assistant messages only shape the caller\'s own thread' })

export const InitialMessageSchema = Type.Object({
  role: RoleSchema,
  content: MessageContentSchema,
  attachments: Type.Optional(Type.Union([Type.Array(AttachmentSchema, { maxItems: ATTACHMENTS_MAX }), Type.Null()])),
  metadata: Type.Optional(Type.Union([MetadataSchema, Type.Null()]))
}, { additionalProperties: false })
export type InitialMessage = Static<typeof InitialMessageSchema>

export const CreateThreadBodySchema = Type.Object({
  title: Type.Optional(TitleSchema),
  metadata: Type.Optional(Type.Union([MetadataSchema, Type.Null()])),
  messages: Type.Optional(Type.Array(InitialMessageSchema, { maxItems: INITIAL_MESSAGES_MAX })),
  tool_resources: Type.Optional(Type.Union([Type.Object({}, { additionalProperties: true }), Type.Null()], { description: 'only null or empty: files are attached to messages' }))
}, { additionalProperties: false })
export type CreateThreadBody = Static<typeof CreateThreadBodySchema>

export const UpdateThreadBodySchema = Type.Object({
  title: Type.Optional(TitleSchema),
  metadata: Type.Optional(Type.Union([MetadataSchema, Type.Null()])),
  tool_resources: Type.Optional(Type.Union([Type.Object({}, { additionalProperties: true }), Type.Null()]))
}, { additionalProperties: false })
export type UpdateThreadBody = Static<typeof UpdateThreadBodySchema>

export const ThreadDeletedSchema = Type.Object({
  id: Type.String(),
  object: Type.Literal('thread.deleted'),
  deleted: Type.Literal(true)
})

const NullableTime = Type.Union([UnixTimeSchema, Type.Null()])

export const MessageSchema = Type.Object({
  id: Type.String(),
  object: Type.Literal('thread.message'),
  created_at: Type.Union([UnixTimeSchema, Type.Null()], { description: 'when the gateway saw the message; null when unknown' }),
  thread_id: Type.String(),
  role: Type.Union([Type.Literal('user'), Type.Literal('assistant')]),
  run_id: Type.Union([Type.String(), Type.Null()]),
  assistant_id: Type.Union([Type.String(), Type.Null()], { description: 'the assistant that wrote it (assistant messages of a run)' }),
  status: Type.Union([Type.Literal('in_progress'), Type.Literal('completed'), Type.Literal('incomplete')]),
  completed_at: NullableTime,
  incomplete_at: NullableTime,
  incomplete_details: Type.Union([Type.Object({ reason: Type.String() }), Type.Null()]),
  content: Type.Array(Type.Object({
    type: Type.Literal('text'),
    text: Type.Object({ value: Type.String(), annotations: Type.Array(Type.Unknown()) })
  })),
  attachments: Type.Array(Type.Object({ file_id: Type.String(), tools: Type.Array(Type.Object({ type: Type.String() })) })),
  metadata: Type.Record(Type.String(), Type.String())
})
export type Message = Static<typeof MessageSchema>

export const MessageParamsSchema = Type.Object({ threadId: OpaqueIdSchema, messageId: OpaqueIdSchema })

export const MessageListQuerySchema = Type.Object({
  ...ListQuerySchema.properties,
  run_id: Type.Optional(OpaqueIdSchema)
}, { additionalProperties: false })

export const CreateMessageBodySchema = Type.Object({
  role: Type.Optional(RoleSchema),
  content: MessageContentSchema,
  attachments: Type.Optional(Type.Union([Type.Array(AttachmentSchema, { maxItems: ATTACHMENTS_MAX, description: 'the caller\'s own files' }), Type.Null()])),
  metadata: Type.Optional(Type.Union([MetadataSchema, Type.Null()]))
}, { additionalProperties: false })
export type CreateMessageBody = Static<typeof CreateMessageBodySchema>

export const UpdateMessageBodySchema = Type.Object({
  metadata: Type.Optional(Type.Union([MetadataSchema, Type.Null()]))
}, { additionalProperties: false })

export const MessageDeletedSchema = Type.Object({
  id: Type.String(),
  object: Type.Literal('thread.message.deleted'),
  deleted: Type.Literal(true)
})
