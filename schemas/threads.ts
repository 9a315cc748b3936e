import { Type, type Static, MetadataSchema, OpaqueIdSchema, UnixTimeSchema } from './common.ts'

export const MESSAGE_MAX_CHARS = 32_000
export const INITIAL_MESSAGES_MAX = 20
export const ATTACHMENTS_MAX = 10

export const ThreadSchema = Type.Object({
  id: Type.String(),
  object: Type.Literal('thread'),
  created_at: UnixTimeSchema,
  title: Type.Union([Type.String(), Type.Null()]),
  metadata: Type.Record(Type.String(), Type.String())
})
export type Thread = Static<typeof ThreadSchema>

export const ThreadParamsSchema = Type.Object({ threadId: OpaqueIdSchema })

const TitleSchema = Type.Union([Type.String({ minLength: 1, maxLength: 256 }), Type.Null()], { description: 'null clears it' })

const TextPartSchema = Type.Object({
  type: Type.Literal('text'),
  text: Type.String({ minLength: 1, maxLength: MESSAGE_MAX_CHARS })
}, { additionalProperties: false })

export const MessageContentSchema = Type.Union([
  Type.String({ minLength: 1, maxLength: MESSAGE_MAX_CHARS }),
  Type.Array(TextPartSchema, { minItems: 1, maxItems: 10 })
], { description: `text (1-${MESSAGE_MAX_CHARS} characters) or text parts` })
export type MessageContent = Static<typeof MessageContentSchema>

export const CreateThreadBodySchema = Type.Object({
  title: Type.Optional(TitleSchema),
  metadata: Type.Optional(MetadataSchema),
  messages: Type.Optional(Type.Array(Type.Object({
    role: Type.Literal('user'),
    content: MessageContentSchema
  }, { additionalProperties: false }), { maxItems: INITIAL_MESSAGES_MAX }))
}, { additionalProperties: false })
export type CreateThreadBody = Static<typeof CreateThreadBodySchema>

export const UpdateThreadBodySchema = Type.Object({
  title: Type.Optional(TitleSchema),
  metadata: Type.Optional(MetadataSchema)
}, { additionalProperties: false })
export type UpdateThreadBody = Static<typeof UpdateThreadBodySchema>

export const ThreadDeletedSchema = Type.Object({
  id: Type.String(),
  object: Type.Literal('thread.deleted'),
  deleted: Type.Literal(true)
})

export const AttachmentSchema = Type.Object({ file_id: OpaqueIdSchema }, { additionalProperties: false })

export const MessageSchema = Type.Object({
  id: Type.String(),
  object: Type.Literal('thread.message'),
  created_at: Type.Union([UnixTimeSchema, Type.Null()], { description: 'when the gateway saw the message; null when unknown' }),
  thread_id: Type.String(),
  role: Type.Union([Type.Literal('user'), Type.Literal('assistant')]),
  run_id: Type.Union([Type.String(), Type.Null()]),
  content: Type.Array(Type.Object({
    type: Type.Literal('text'),
    text: Type.Object({ value: Type.String(), annotations: Type.Array(Type.Unknown()) })
  })),
  attachments: Type.Array(Type.Object({ file_id: Type.String() }))
})
export type Message = Static<typeof MessageSchema>

export const CreateMessageBodySchema = Type.Object({
  role: Type.Optional(Type.Literal('user', { description: 'only user messages can be added' })),
  content: MessageContentSchema,
  attachments: Type.Optional(Type.Array(AttachmentSchema, { maxItems: ATTACHMENTS_MAX, description: 'the caller\'s own files' }))
}, { additionalProperties: false })
export type CreateMessageBody = Static<typeof CreateMessageBodySchema>
