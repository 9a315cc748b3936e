import { Type, type Static, UnixTimeSchema } from './common.ts'

const NullableInt = Type.Union([Type.Integer(), Type.Null()], { description: 'null = unlimited' })
const NullableNumber = Type.Union([Type.Number(), Type.Null()], { description: 'null = unlimited' })

const StoredSchema = Type.Object({ count: Type.Integer(), limit: NullableInt })

const TokensSchema = Type.Object({
  input: Type.Integer(),
  cached: Type.Integer(),
  cache_write: Type.Integer({ description: 'input tokens written to the prompt cache (priced apart for the models that charge for it)' }),
  output: Type.Integer(),
  reasoning: Type.Integer(),
  total: Type.Integer()
})

export const UsageSchema = Type.Object({
  object: Type.Literal('usage'),
  date: Type.String({ description: 'budget day (YYYY-MM-DD)' }),
  resets_at: UnixTimeSchema,
  tokens: TokensSchema,
  audio_seconds: Type.Number(),
  runs: Type.Integer(),
  reserved: Type.Object({ tokens: Type.Integer(), audio_seconds: Type.Number() }, { description: 'held by runs and uploads in flight' }),
  limits: Type.Object({ tokens: NullableInt, audio_seconds: NullableNumber }),
  remaining: Type.Object({ tokens: NullableInt, audio_seconds: NullableNumber }),
  stored: Type.Object({
    threads: StoredSchema,
    files: StoredSchema
  }, { description: 'what the caller keeps, against the per-user caps (THREADS_MAX_PER_USER, FILES_MAX_PER_USER)' })
})

/** Tokens of one upstream call or a sum of them, in the upstream's terms. */
export const TokenUsageSchema = Type.Object({
  input_tokens: Type.Integer(),
  cached_tokens: Type.Integer(),
  cache_write_tokens: Type.Integer({ description: 'part of input_tokens written to the prompt cache (0 where the model does not report it)' }),
  output_tokens: Type.Integer(),
  reasoning_tokens: Type.Integer(),
  total_tokens: Type.Integer()
})
export type TokenUsage = Static<typeof TokenUsageSchema>

const AmountsSchema = Type.Object({
  ...TokenUsageSchema.properties,
  audio_seconds: Type.Number(),
  runs: Type.Integer(),
  cost_usd: Type.Number({ description: 'estimate from the price table' })
})

/** What the ledger sums per day, user, assistant and model. */
export type UsageAmounts = Static<typeof AmountsSchema>

export const UsageReportSchema = Type.Object({
  object: Type.Literal('usage.report'),
  date: Type.String(),
  currency: Type.String(),
  prices_updated: Type.String({ description: 'date of the price table the costs come from' }),
  users: Type.Array(Type.Object({
    user: Type.String(),
    ...AmountsSchema.properties,
    by_model: Type.Array(Type.Object({ assistant: Type.String(), model: Type.String(), ...AmountsSchema.properties }))
  })),
  totals: AmountsSchema,
  global: Type.Object({ tokens_limit: NullableInt, tokens_used: Type.Integer(), tokens_reserved: Type.Integer() })
})

export const UsageReportQuerySchema = Type.Object({
  date: Type.Optional(Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}$', description: 'YYYY-MM-DD; default today (budget day)' }))
}, { additionalProperties: false })
