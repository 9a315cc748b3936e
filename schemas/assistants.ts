import { Type, type Static, AssistantIdSchema, UnixTimeSchema } from './common.ts'

const ToolNameSchema = Type.String({ minLength: 1, maxLength: 64, pattern: '^[a-zA-Z0-9_-]+$' })

/** What an admin sends to PUT /assistants/:id (and what each profile of the agents file holds). */
export const AssistantBodySchema = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 128 }),
  description: Type.String({ maxLength: 1024, default: '' }),
  model: Type.String({ minLength: 1, maxLength: 128 }),
  instructions: Type.String({ maxLength: 32_000 }),
  tools: Type.Array(ToolNameSchema, { maxItems: 32, uniqueItems: true, default: [] }),
  temperature: Type.Union([Type.Number({ minimum: 0, maximum: 2 }), Type.Null()], { default: null, description: 'default when the run does not set one' }),
  top_p: Type.Union([Type.Number({ minimum: 0, maximum: 1 }), Type.Null()], { default: null }),
  accepts_sampling: Type.Boolean({ default: true, description: 'false for models that reject temperature/top_p (reasoning models): they are then not sent' }),
  max_output_tokens: Type.Integer({ minimum: 16, maximum: 128_000, description: 'cap for runs of this assistant' }),
  daily_token_cap: Type.Integer({ minimum: 0, default: 0, description: 'tokens per day for this assistant across all users; 0 = none' })
}, { additionalProperties: false })
export type AssistantBody = Static<typeof AssistantBodySchema>

const JsonSchemaObject = Type.Object({ type: Type.Literal('object') }, { additionalProperties: true })

export const WebhookToolSchema = Type.Object({
  name: ToolNameSchema,
  type: Type.Literal('webhook'),
  url: Type.String({ pattern: '^https?://[^\\s]+$' }),
  description: Type.String({ minLength: 1, maxLength: 1024 }),
  parameters: JsonSchemaObject,
  timeout_ms: Type.Optional(Type.Integer({ minimum: 100, maximum: 600_000 }))
}, { additionalProperties: false })
export type WebhookTool = Static<typeof WebhookToolSchema>

export const AgentsFileSchema = Type.Object({
  $comment: Type.Optional(Type.String()),
  agents: Type.Array(Type.Object({ id: AssistantIdSchema, ...AssistantBodySchema.properties }, { additionalProperties: false }), { minItems: 1, maxItems: 100 }),
  tools: Type.Array(WebhookToolSchema, { default: [], maxItems: 100 })
}, { additionalProperties: false })

export const AssistantParamsSchema = Type.Object({ assistantId: AssistantIdSchema })

export const AssistantPublicSchema = Type.Object({
  id: Type.String(),
  object: Type.Literal('assistant'),
  name: Type.String(),
  description: Type.String(),
  model: Type.String()
})

export const AssistantAdminSchema = Type.Object({
  id: Type.String(),
  object: Type.Literal('assistant'),
  name: Type.String(),
  description: Type.String(),
  model: Type.String(),
  instructions: Type.String(),
  tools: Type.Array(Type.String()),
  temperature: Type.Union([Type.Number(), Type.Null()]),
  top_p: Type.Union([Type.Number(), Type.Null()]),
  accepts_sampling: Type.Boolean(),
  max_output_tokens: Type.Integer(),
  daily_token_cap: Type.Integer(),
  version: Type.Integer(),
  updated_at: Type.Union([UnixTimeSchema, Type.Null()], { description: 'null for a profile from the agents file never edited' })
})

/** GET /assistants/:id answers the admin view to admins, the public view to everyone else. */
export const AssistantViewSchema = Type.Union([AssistantAdminSchema, AssistantPublicSchema])

export const AssistantDeletedSchema = Type.Object({
  id: Type.String(),
  object: Type.Literal('assistant.deleted'),
  deleted: Type.Literal(true)
})
