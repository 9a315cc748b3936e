import { Type, type Static, AssistantIdSchema, MetadataSchema, UnixTimeSchema } from './common.ts'

const ToolNameSchema = Type.String({ minLength: 1, maxLength: 64, pattern: '^[a-zA-Z0-9_-]+$' })

const JsonSchemaObject = Type.Object({ type: Type.Literal('object') }, { additionalProperties: true })

/**
 * A function the SPA runs itself, as Assistants-era function tools were: a call pauses the run in
 * requires_action until the client submits its output.
 */
export const ClientToolSchema = Type.Object({
  name: ToolNameSchema,
  description: Type.String({ maxLength: 1024, default: '' }),
  parameters: JsonSchemaObject
}, { additionalProperties: false })
export type ClientTool = Static<typeof ClientToolSchema>

/** An id an SPA may still use for a profile (e.g. the retired asst_… id it has in its configuration). */
export const AssistantAliasSchema = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9][A-Za-z0-9_-]*$' })

/** The Responses text format a run answers in (the Assistants API's response_format). */
export const ResponseFormatSchema = Type.Union([
  Type.Literal('auto'),
  Type.Object({ type: Type.Union([Type.Literal('text'), Type.Literal('json_object')]) }, { additionalProperties: false }),
  Type.Object({
    type: Type.Literal('json_schema'),
    json_schema: Type.Object({
      name: Type.String({ minLength: 1, maxLength: 64, pattern: '^[a-zA-Z0-9_-]+$' }),
      description: Type.Optional(Type.String({ maxLength: 1024 })),
      schema: Type.Optional(Type.Object({}, { additionalProperties: true, maxProperties: 256 })),
      strict: Type.Optional(Type.Union([Type.Boolean(), Type.Null()]))
    }, { additionalProperties: false })
  }, { additionalProperties: false })
], { description: 'auto (plain text), text, json_object, or json_schema with a JSON Schema' })
export type ResponseFormat = Static<typeof ResponseFormatSchema>

/**
 * How a profile bounds what a long thread costs per turn (turn 100 re-reads turns 1–99 unless told not to).
 * Without a policy a run sends neither truncation nor compaction: today's behaviour.
 */
export const ContextPolicySchema = Type.Object({
  truncation: Type.Union([Type.Literal('disabled'), Type.Literal('auto')], {
    default: 'disabled',
    description: 'upstream truncation: auto drops the oldest items when the context overflows the model\'s window, instead of failing the run'
  }),
  compact_threshold: Type.Union([Type.Integer({ minimum: 1000, maximum: 10_000_000 }), Type.Null()], {
    default: null,
    description: 'upstream compaction (context_management) once the context exceeds this many tokens: the items before the current turn become one compaction item'
  }),
  max_input_tokens: Type.Union([Type.Integer({ minimum: 1000, maximum: 10_000_000 }), Type.Null()], {
    default: null,
    description: 'a cap on the input a turn reads, on every thread of the profile: compaction at the cap (or the lower compact_threshold); budget reservations assume no more than the cap, or the turn\'s own new input when that is larger'
  })
}, { additionalProperties: false })
export type ContextPolicy = Static<typeof ContextPolicySchema>

/** What an admin sends to PUT /assistants/:id (and what each profile of the agents file holds). */
export const AssistantBodySchema = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 128 }),
  description: Type.String({ maxLength: 1024, default: '' }),
  model: Type.String({ minLength: 1, maxLength: 128 }),
  instructions: Type.String({ maxLength: 32_000 }),
  tools: Type.Array(ToolNameSchema, { maxItems: 32, uniqueItems: true, default: [], description: 'server-side tools (built-in or webhook), by name' }),
  client_tools: Type.Array(ClientToolSchema, { maxItems: 32, default: [], description: 'functions the SPA runs: a call pauses the run in requires_action' }),
  temperature: Type.Union([Type.Number({ minimum: 0, maximum: 2 }), Type.Null()], { default: null, description: 'default when the run does not set one' }),
  top_p: Type.Union([Type.Number({ minimum: 0, maximum: 1 }), Type.Null()], { default: null }),
  accepts_sampling: Type.Boolean({ default: true, description: 'false for models that reject temperature/top_p (reasoning models): they are then not sent' }),
  max_output_tokens: Type.Integer({ minimum: 16, maximum: 128_000, description: 'cap for runs of this assistant' }),
  daily_token_cap: Type.Integer({ minimum: 0, default: 0, description: 'tokens per day for this assistant across all users; 0 = none (at least max_output_tokens otherwise)' }),
  aliases: Type.Array(AssistantAliasSchema, { maxItems: 16, uniqueItems: true, default: [], description: 'other ids that resolve to this profile as assistant_id (e.g. the retired asst_… ids an SPA still sends)' }),
  accepts_additional_instructions: Type.Boolean({ default: false, description: 'whether a run may add additional_instructions to the profile\'s' }),
  show_tool_outputs: Type.Boolean({ default: false, description: 'whether run steps show server-side tools\' outputs to the user (a webhook\'s answer may hold data the user should not read verbatim)' }),
  response_format: Type.Union([ResponseFormatSchema, Type.Null()], { default: null, description: 'the text format runs answer in unless a run sets one; null = auto' }),
  context_policy: Type.Optional(ContextPolicySchema),
  metadata: Type.Optional(MetadataSchema)
}, { additionalProperties: false })
export type AssistantBody = Static<typeof AssistantBodySchema>

/** A profile as the gateway keeps it (the agents file's entries, and what admins save). */
export const AssistantProfileSchema = Type.Object({
  id: AssistantIdSchema,
  ...AssistantBodySchema.properties,
  created_at: Type.Optional(UnixTimeSchema)
}, { additionalProperties: false })
export type AssistantProfile = Static<typeof AssistantProfileSchema>

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
  agents: Type.Array(AssistantProfileSchema, { minItems: 1, maxItems: 100 }),
  tools: Type.Array(WebhookToolSchema, { default: [], maxItems: 100 })
}, { additionalProperties: false })

/** Reads take a profile id or an alias; writes (PUT) name a profile id. */
export const AssistantParamsSchema = Type.Object({ assistantId: AssistantAliasSchema })
export const AssistantIdParamsSchema = Type.Object({ assistantId: AssistantIdSchema })

/** A tool as the Assistants API showed it: the function definition, never a webhook tool's URL. */
export const AssistantToolSchema = Type.Object({
  type: Type.Literal('function'),
  function: Type.Object({
    name: Type.String(),
    description: Type.String(),
    parameters: Type.Object({}, { additionalProperties: true })
  })
})

export type AssistantTool = Static<typeof AssistantToolSchema>

const NullableNumber = Type.Union([Type.Number(), Type.Null()])

/** What every user sees of a profile: the Assistants API's object, without the prompt. */
export const AssistantPublicSchema = Type.Object({
  id: Type.String(),
  object: Type.Literal('assistant'),
  created_at: UnixTimeSchema,
  name: Type.String(),
  description: Type.String(),
  model: Type.String(),
  instructions: Type.Null({ description: 'a profile\'s prompt is shown to admins only' }),
  tools: Type.Array(AssistantToolSchema),
  metadata: Type.Record(Type.String(), Type.String()),
  temperature: NullableNumber,
  top_p: NullableNumber,
  response_format: Type.Union([ResponseFormatSchema, Type.Null()]),
  tool_resources: Type.Null({ description: 'always null: files are attached to messages' })
})

/** The admin view adds the whole profile. */
export const AssistantAdminSchema = Type.Object({
  ...AssistantPublicSchema.properties,
  instructions: Type.String(),
  tool_names: Type.Array(Type.String(), { description: 'the profile\'s server-side tools, by name' }),
  aliases: Type.Array(Type.String()),
  accepts_sampling: Type.Boolean(),
  accepts_additional_instructions: Type.Boolean(),
  show_tool_outputs: Type.Boolean(),
  max_output_tokens: Type.Integer(),
  daily_token_cap: Type.Integer(),
  context_policy: Type.Union([ContextPolicySchema, Type.Null()], { description: 'null: no truncation, no compaction (the thread is read whole)' }),
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

/** A function tool as the Assistants API's assistants.create/update take it. */
const SdkFunctionToolSchema = Type.Object({
  type: Type.Literal('function'),
  function: Type.Object({
    name: ToolNameSchema,
    description: Type.Optional(Type.String({ maxLength: 1024 })),
    parameters: Type.Optional(Type.Object({}, { additionalProperties: true })),
    strict: Type.Optional(Type.Union([Type.Boolean(), Type.Null()]))
  }, { additionalProperties: false })
}, { additionalProperties: false })
/** OpenAI-hosted tools of the Assistants API: not available through the gateway (refused by name). */
const HostedToolSchema = Type.Object({ type: Type.Union([Type.Literal('code_interpreter'), Type.Literal('file_search')]) }, { additionalProperties: true })

const NullableString = (max: number) => Type.Union([Type.String({ maxLength: max }), Type.Null()])

/**
 * POST /assistants (admin): the Assistants API's assistants.create body, plus the gateway's own profile
 * settings. A function tool named like a configured server-side tool refers to it; any other function
 * tool is a client tool — so an Assistants-era definition, pasted as it was, behaves as it did.
 */
export const AssistantCreateBodySchema = Type.Object({
  id: Type.Optional(AssistantIdSchema),
  model: Type.String({ minLength: 1, maxLength: 128 }),
  name: Type.Optional(NullableString(128)),
  description: Type.Optional(NullableString(1024)),
  instructions: Type.Optional(NullableString(32_000)),
  tools: Type.Optional(Type.Array(Type.Union([SdkFunctionToolSchema, HostedToolSchema]), { maxItems: 64 })),
  metadata: Type.Optional(Type.Union([MetadataSchema, Type.Null()])),
  temperature: Type.Optional(Type.Union([Type.Number({ minimum: 0, maximum: 2 }), Type.Null()])),
  top_p: Type.Optional(Type.Union([Type.Number({ minimum: 0, maximum: 1 }), Type.Null()])),
  response_format: Type.Optional(Type.Union([ResponseFormatSchema, Type.Null()])),
  tool_resources: Type.Optional(Type.Union([Type.Object({}, { additionalProperties: true }), Type.Null()])),
  reasoning_effort: Type.Optional(Type.Union([Type.String({ maxLength: 16 }), Type.Null()])),
  aliases: Type.Optional(AssistantBodySchema.properties.aliases),
  max_output_tokens: Type.Optional(AssistantBodySchema.properties.max_output_tokens),
  daily_token_cap: Type.Optional(AssistantBodySchema.properties.daily_token_cap),
  accepts_sampling: Type.Optional(Type.Boolean()),
  accepts_additional_instructions: Type.Optional(Type.Boolean()),
  show_tool_outputs: Type.Optional(Type.Boolean()),
  context_policy: Type.Optional(Type.Union([ContextPolicySchema, Type.Null()]))
}, { additionalProperties: false })
export type AssistantCreateBody = Static<typeof AssistantCreateBodySchema>

/** POST /assistants/:id (admin): assistants.update, every field optional; what is not sent is kept. */
const { id: _id, ...updatable } = AssistantCreateBodySchema.properties
export const AssistantUpdateBodySchema = Type.Object({
  ...updatable,
  model: Type.Optional(AssistantCreateBodySchema.properties.model)
}, { additionalProperties: false })
export type AssistantUpdateBody = Static<typeof AssistantUpdateBodySchema>
