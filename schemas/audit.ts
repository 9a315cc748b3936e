import { Type, OpaqueIdSchema, UnixTimeSchema } from './common.ts'

export const AuditEntrySchema = Type.Object({
  id: Type.String(),
  object: Type.Literal('audit.entry'),
  seq: Type.Integer({ minimum: 1, description: 'position in the chain, from 1, without gaps' }),
  created_at: UnixTimeSchema,
  actor: Type.String({ description: 'the admin\'s sub, or system' }),
  action: Type.String({ description: 'assistant.create|update|put|delete, user.suspend|unsuspend, safety.warning_issued|deactivation_issued, …' }),
  target: Type.Union([Type.String(), Type.Null()]),
  request_id: Type.Union([Type.String(), Type.Null()]),
  details: Type.Record(Type.String(), Type.Unknown()),
  prev_hash: Type.String({ description: 'hash of the entry before (64 zeros for the first)' }),
  hash: Type.String({ description: 'SHA-256 (hex) of the canonical entry: every field but hash and object, keys sorted' })
})

export const AuditListQuerySchema = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
  order: Type.Union([Type.Literal('asc'), Type.Literal('desc')], { default: 'desc' }),
  after: Type.Optional(OpaqueIdSchema),
  before: Type.Optional(OpaqueIdSchema),
  actor: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  action: Type.Optional(Type.String({ minLength: 1, maxLength: 64, pattern: '^[a-z0-9_.]+$' })),
  since: Type.Optional(Type.Integer({ minimum: 0, description: 'Unix seconds: entries created at or after it' }))
}, { additionalProperties: false })

export const AuditVerificationSchema = Type.Object({
  valid: Type.Boolean(),
  entries: Type.Integer({ description: 'entries checked (up to the first bad one)' }),
  first_bad_id: Type.Union([Type.String(), Type.Null()], { description: 'the first entry edited, removed or re-chained' }),
  last_hash: Type.Union([Type.String(), Type.Null()], { description: 'the head\'s hash: kept elsewhere, it shows a rewrite of the whole chain' })
})
