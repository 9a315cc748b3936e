import { Type, type Static, AssistantIdSchema, ErrorSchema, OpaqueIdSchema, UnixTimeSchema } from './common.ts'

const NullableTime = Type.Union([UnixTimeSchema, Type.Null()])

export const RunStatusSchema = Type.Union([
  Type.Literal('queued'), Type.Literal('in_progress'), Type.Literal('completed'), Type.Literal('incomplete'),
  Type.Literal('failed'), Type.Literal('cancelling'), Type.Literal('cancelled')
])

export const RunSchema = Type.Object({
  id: Type.String(),
  object: Type.Literal('thread.run'),
  created_at: UnixTimeSchema,
  thread_id: Type.String(),
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
  max_output_tokens: Type.Union([Type.Integer(), Type.Null()])
})
export type Run = Static<typeof RunSchema>

export const RunParamsSchema = Type.Object({ threadId: OpaqueIdSchema, runId: OpaqueIdSchema })

export const CreateRunBodySchema = Type.Object({
  assistant_type: AssistantIdSchema,
  temperature: Type.Optional(Type.Number({ minimum: 0, maximum: 2 })),
  top_p: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
  max_output_tokens: Type.Optional(Type.Integer({ minimum: 16, maximum: 128_000, description: 'at most the assistant\'s cap' })),
  stream: Type.Optional(Type.Boolean({ description: 'answer as server-sent events (also with Accept: text/event-stream)' })),
  wait: Type.Optional(Type.Boolean({ default: true, description: 'false answers 202 at once; the run goes on' }))
}, { additionalProperties: false })
export type CreateRunBody = Static<typeof CreateRunBodySchema>

export const GetRunQuerySchema = Type.Object({
  wait: Type.Optional(Type.Integer({ minimum: 0, maximum: 600_000, description: 'milliseconds to wait for the run to end (long poll)' }))
}, { additionalProperties: false })

export const RunFailedSchema = Type.Object({
  ...ErrorSchema.properties,
  statusCode: Type.Literal(502),
  code: Type.Literal('RUN_FAILED'),
  run: RunSchema
})
