import { Type, type Static, AssistantIdSchema, ErrorSchema, MetadataSchema, OpaqueIdSchema, UnixTimeSchema } from './common.ts'
import { AssistantAliasSchema, AssistantToolSchema, ContextPolicySchema, ResponseFormatSchema } from './assistants.ts'
import { AttachmentSchema, CreateThreadBodySchema, MessageContentSchema } from './threads.ts'

const NullableTime = Type.Union([UnixTimeSchema, Type.Null()])

export const RunStatusSchema = Type.Union([
  Type.Literal('queued'), Type.Literal('in_progress'), Type.Literal('requires_action'), Type.Literal('completed'), Type.Literal('incomplete'),
  Type.Literal('failed'), Type.Literal('cancelling'), Type.Literal('cancelled'), Type.Literal('expired')
], { description: 'requires_action: paused until the client submits its tool outputs; expired: it did not, in time' })
export type RunStatus = Static<typeof RunStatusSchema>

/** How the thread is cut to fit the context (the Assistants API's truncation_strategy; upstream truncation: auto). */
export const TruncationStrategySchema = Type.Object({
  type: Type.Union([Type.Literal('auto'), Type.Literal('last_messages')]),
  last_messages: Type.Optional(Type.Union([Type.Integer({ minimum: 1, maximum: 1000 }), Type.Null()]))
}, { additionalProperties: false })
export type TruncationStrategy = Static<typeof TruncationStrategySchema>

export const ToolChoiceSchema = Type.Union([
  Type.Literal('none'), Type.Literal('auto'), Type.Literal('required'),
  Type.Object({
    type: Type.Literal('function'),
    function: Type.Object({ name: Type.String({ minLength: 1, maxLength: 64 }) }, { additionalProperties: false })
  }, { additionalProperties: false })
], { description: 'none, auto, required, or one function by name' })
export type ToolChoice = Static<typeof ToolChoiceSchema>

/** A function call the run waits for the client to answer (client tools: requires_action). */
export const RequiredActionSchema = Type.Object({
  type: Type.Literal('submit_tool_outputs'),
  submit_tool_outputs: Type.Object({
    tool_calls: Type.Array(Type.Object({
      id: Type.String(),
      type: Type.Literal('function'),
      function: Type.Object({ name: Type.String(), arguments: Type.String() })
    }))
  })
})
export type RequiredAction = Static<typeof RequiredActionSchema>

export const RunSchema = Type.Object({
  id: Type.String(),
  object: Type.Literal('thread.run'),
  created_at: UnixTimeSchema,
  thread_id: Type.String(),
  assistant_id: Type.String({ description: 'the assistant profile (the same as assistant_type)' }),
  assistant_type: Type.String(),
  model: Type.String(),
  status: RunStatusSchema,
  started_at: NullableTime,
  completed_at: NullableTime,
  cancelled_at: NullableTime,
  failed_at: NullableTime,
  last_error: Type.Union([Type.Object({ code: Type.String(), message: Type.String() }), Type.Null()]),
  incomplete_details: Type.Union([Type.Object({ reason: Type.String() }), Type.Null()]),
  usage: Type.Union([Type.Object({ prompt_tokens: Type.Integer(), completion_tokens: Type.Integer(), total_tokens: Type.Integer() }), Type.Null()],
    { description: 'null until the run ends; summed over every upstream response of the run' }),
  temperature: Type.Union([Type.Number(), Type.Null()]),
  top_p: Type.Union([Type.Number(), Type.Null()]),
  max_output_tokens: Type.Union([Type.Integer(), Type.Null()]),
  max_completion_tokens: Type.Union([Type.Integer(), Type.Null()], { description: 'the same cap as max_output_tokens, by its Assistants API name' }),
  max_prompt_tokens: Type.Union([Type.Integer(), Type.Null()]),
  instructions: Type.Union([Type.String(), Type.Null()], { description: 'null unless the caller is an admin: a profile\'s prompt is not shown to users' }),
  tools: Type.Array(AssistantToolSchema, { description: 'the functions the run could call, without server-side internals' }),
  required_action: Type.Union([RequiredActionSchema, Type.Null()]),
  expires_at: NullableTime,
  metadata: Type.Record(Type.String(), Type.String()),
  parallel_tool_calls: Type.Boolean(),
  response_format: Type.Union([ResponseFormatSchema, Type.Null()]),
  tool_choice: Type.Union([ToolChoiceSchema, Type.Null()]),
  truncation_strategy: Type.Union([TruncationStrategySchema, Type.Null()]),
  context_policy: Type.Union([ContextPolicySchema, Type.Null()], {
    description: 'the assistant\'s context policy as this run applies it (upstream truncation, compaction threshold, per-turn input cap); null: the thread is read whole'
  })
})
export type Run = Static<typeof RunSchema>

export const RunParamsSchema = Type.Object({ threadId: OpaqueIdSchema, runId: OpaqueIdSchema })

/** A message added to the thread when the run starts (additional_messages; the thread's messages of createAndRun). */
export const AddedMessageSchema = Type.Object({
  role: Type.Enum(['user', 'assistant'], { description: 'assistant messages only shape the caller\'s own thread' }),
  content: MessageContentSchema,
  attachments: Type.Optional(Type.Union([Type.Array(AttachmentSchema, { maxItems: 10 }), Type.Null()])),
  metadata: Type.Optional(Type.Union([MetadataSchema, Type.Null()]))
}, { additionalProperties: false })
export type AddedMessage = Static<typeof AddedMessageSchema>

const Nullable = <T extends Parameters<typeof Type.Optional>[0]>(schema: T) => Type.Optional(Type.Union([schema, Type.Null()]))

/** What a run may set, in v1's and the Assistants API's names (the SDK sends nulls for unset fields). */
export const RunParametersSchema = Type.Object({
  assistant_type: Type.Optional(AssistantIdSchema),
  assistant_id: Type.Optional(AssistantAliasSchema),
  temperature: Nullable(Type.Number({ minimum: 0, maximum: 2 })),
  top_p: Nullable(Type.Number({ minimum: 0, maximum: 1 })),
  max_output_tokens: Nullable(Type.Integer({ minimum: 16, maximum: 128_000, description: 'at most the assistant\'s cap' })),
  max_completion_tokens: Nullable(Type.Integer({ minimum: 16, maximum: 128_000, description: 'may only lower the assistant\'s cap' })),
  max_prompt_tokens: Nullable(Type.Integer({ minimum: 256, maximum: 10_000_000, description: 'the thread is truncated upstream to stay within it' })),
  truncation_strategy: Nullable(TruncationStrategySchema),
  response_format: Nullable(ResponseFormatSchema),
  tool_choice: Nullable(ToolChoiceSchema),
  parallel_tool_calls: Nullable(Type.Boolean()),
  metadata: Nullable(MetadataSchema),
  additional_instructions: Nullable(Type.String({ maxLength: 32_000, description: 'only where the assistant allows it' })),
  additional_messages: Nullable(Type.Array(AddedMessageSchema, { maxItems: 20 })),
  // The profile sets these: present in the schema so that the refusal can say so.
  model: Nullable(Type.String({ maxLength: 256 })),
  instructions: Nullable(Type.String({ maxLength: 32_000 })),
  tools: Nullable(Type.Array(Type.Unknown(), { maxItems: 128 })),
  reasoning_effort: Nullable(Type.String({ maxLength: 16 })),
  stream: Nullable(Type.Boolean({ description: 'answer as server-sent events (also with Accept: text/event-stream)' })),
  // No schema default: whether the caller chose is what decides (a v2 request that says nothing answers at once).
  wait: Type.Optional(Type.Boolean({
    description: 'true: wait up to RUN_WAIT_TIMEOUT_MS for the run to end before answering; false: answer 202 at once, the run goes on. ' +
      'Unset: true, except with OpenAI-Beta: assistants=v2 (the official SDK\'s beta.* calls), which answer at once as the Assistants API did'
  }))
})

export const CreateRunBodySchema = Type.Object(RunParametersSchema.properties, { additionalProperties: false })
export type CreateRunBody = Static<typeof CreateRunBodySchema>

export const RunIncludeQuerySchema = Type.Object({
  'include[]': Type.Optional(Type.Array(Type.Literal('step_details.tool_calls[*].file_search.results[*].content'), { maxItems: 1 }))
}, { additionalProperties: false })

export const UpdateRunBodySchema = Type.Object({
  metadata: Type.Optional(Type.Union([MetadataSchema, Type.Null()]))
}, { additionalProperties: false })

export const GetRunQuerySchema = Type.Object({
  wait: Type.Optional(Type.Integer({ minimum: 0, maximum: 600_000, description: 'milliseconds to wait for the run to end (long poll)' }))
}, { additionalProperties: false })

export const RunFailedSchema = Type.Object({
  ...ErrorSchema.properties,
  statusCode: Type.Literal(502),
  code: Type.Literal('RUN_FAILED'),
  run: RunSchema
})

/** POST /threads/runs (createAndRun): a thread and its first run in one request. */
export const CreateThreadAndRunBodySchema = Type.Object({
  ...RunParametersSchema.properties,
  thread: Type.Optional(Type.Union([CreateThreadBodySchema, Type.Null()]))
}, { additionalProperties: false })
export type CreateThreadAndRunBody = Static<typeof CreateThreadAndRunBodySchema>

const StepStatusSchema = Type.Union([
  Type.Literal('in_progress'), Type.Literal('completed'), Type.Literal('cancelled'), Type.Literal('failed'), Type.Literal('expired')
])

export const FunctionToolCallSchema = Type.Object({
  id: Type.String({ description: 'the call id a client answers with tool_call_id' }),
  type: Type.Literal('function'),
  function: Type.Object({
    name: Type.String(),
    arguments: Type.String(),
    output: Type.Union([Type.String(), Type.Null()], { description: 'null until known; a server-side tool\'s output only where its profile shows tool outputs' })
  })
})

export const StepDetailsSchema = Type.Union([
  Type.Object({ type: Type.Literal('message_creation'), message_creation: Type.Object({ message_id: Type.String() }) }),
  Type.Object({ type: Type.Literal('tool_calls'), tool_calls: Type.Array(FunctionToolCallSchema) })
])

/** A run step as the Assistants API showed one: a message the run wrote, or a round of function calls. */
export const RunStepSchema = Type.Object({
  id: Type.String(),
  object: Type.Literal('thread.run.step'),
  created_at: UnixTimeSchema,
  assistant_id: Type.String(),
  thread_id: Type.String(),
  run_id: Type.String(),
  type: Type.Union([Type.Literal('message_creation'), Type.Literal('tool_calls')]),
  status: StepStatusSchema,
  step_details: StepDetailsSchema,
  last_error: Type.Union([Type.Object({ code: Type.String(), message: Type.String() }), Type.Null()]),
  expired_at: NullableTime,
  cancelled_at: NullableTime,
  failed_at: NullableTime,
  completed_at: NullableTime,
  metadata: Type.Record(Type.String(), Type.String()),
  usage: Type.Union([Type.Object({ prompt_tokens: Type.Integer(), completion_tokens: Type.Integer(), total_tokens: Type.Integer() }), Type.Null()])
})
export type RunStep = Static<typeof RunStepSchema>

export const RunStepParamsSchema = Type.Object({ threadId: OpaqueIdSchema, runId: OpaqueIdSchema, stepId: OpaqueIdSchema })

/** Tool outputs are fed to the model, like a server-side tool's: bounded alike. */
export const TOOL_OUTPUT_MAX_CHARS = 64 * 1024

export const SubmitToolOutputsBodySchema = Type.Object({
  tool_outputs: Type.Array(Type.Object({
    tool_call_id: Type.String({ minLength: 1, maxLength: 128 }),
    output: Type.String({ maxLength: TOOL_OUTPUT_MAX_CHARS })
  }, { additionalProperties: false }), { minItems: 1, maxItems: 128 }),
  stream: Type.Optional(Type.Union([Type.Boolean(), Type.Null()])),
  wait: Type.Optional(Type.Boolean({ default: true, description: 'false answers 202 at once; the run goes on' }))
}, { additionalProperties: false })
