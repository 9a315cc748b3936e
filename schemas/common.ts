import { Type, type Static, type TSchema } from 'typebox'

export { Type, type Static, type TSchema }

/** Upstream and gateway ids are opaque, but checked for length and charset before any use. */
export const OpaqueIdSchema = Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9_-]+$' })
export const AssistantIdSchema = Type.String({ minLength: 1, maxLength: 64, pattern: '^[a-z0-9][a-z0-9_-]*$' })
export const UnixTimeSchema = Type.Integer({ minimum: 0, description: 'Unix seconds' })

export const MetadataSchema = Type.Record(
  Type.String(),
  Type.String({ maxLength: 512 }),
  {
    maxProperties: 8,
    // TypeBox turns a Record's key schema into a pattern, dropping its lengths: the keys are bounded here.
    propertyNames: { type: 'string', minLength: 1, maxLength: 64 },
    description: 'up to 8 string pairs; key 1–64, value ≤ 512 characters'
  }
)
export type Metadata = Static<typeof MetadataSchema>

export const ErrorSchema = Type.Object({
  error: Type.Object({
    message: Type.String(),
    type: Type.String({ description: 'OpenAI\'s error type: invalid_request_error, authentication_error, permission_error, rate_limit_error, insufficient_quota, server_error' }),
    code: Type.String({ description: 'the same stable code as the top-level code' }),
    param: Type.Union([Type.String(), Type.Null()], { description: 'the request field at fault, for a 400' })
  }, { description: 'shaped as OpenAI\'s errors, so the official SDKs surface message, code, type and param' }),
  statusCode: Type.Integer(),
  code: Type.String({ description: 'stable error code from the contract' }),
  message: Type.String(),
  requestId: Type.String()
}, { additionalProperties: false, description: 'Every non-2xx answer has this shape (RUN_FAILED adds the run)' })
export type ErrorBody = Static<typeof ErrorSchema>

export const ListQuerySchema = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
  order: Type.Union([Type.Literal('asc'), Type.Literal('desc')], { default: 'desc' }),
  after: Type.Optional(OpaqueIdSchema),
  before: Type.Optional(OpaqueIdSchema)
}, { additionalProperties: false })
export type ListQuery = Static<typeof ListQuerySchema>

export function ListOf<T extends TSchema> (item: T) {
  return Type.Object({
    object: Type.Literal('list'),
    data: Type.Array(item),
    first_id: Type.Union([Type.String(), Type.Null()]),
    last_id: Type.Union([Type.String(), Type.Null()]),
    has_more: Type.Boolean()
  })
}

/** A page of a list as the API answers it: the envelope of ListOf, with `data` of T. */
export type ListPage<T> = Omit<Static<ReturnType<typeof ListOf<TSchema>>>, 'data'> & { data: T[] }

export function listPage<T extends { id: string }> (data: T[], hasMore: boolean): ListPage<T> {
  return { object: 'list', data, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null, has_more: hasMore }
}

/** The error answers a route can give, keyed by status, for the OpenAPI document. */
export function errorResponses (...statuses: number[]): Record<number, typeof ErrorSchema> {
  const out: Record<number, typeof ErrorSchema> = {}
  for (const status of statuses) out[status] = ErrorSchema
  return out
}

/** Statuses every authenticated /api route can answer with. */
export const API_ERRORS = [400, 401, 429, 500, 503] as const

/** 1–255 visible ASCII characters, no spaces: the one rule, also checked by plugins/app/idempotency.ts. */
export const IdempotencyKeySchema = Type.String({ minLength: 1, maxLength: 255, pattern: '^[\\x21-\\x7E]+$' })

export const IdempotencyHeadersSchema = Type.Object({
  'idempotency-key': Type.Optional(IdempotencyKeySchema)
})
