import { Type, type Static, UnixTimeSchema } from './common.ts'
import { UsageSchema } from './usage.ts'

const NullableTime = Type.Union([UnixTimeSchema, Type.Null()])

/** A JWT `sub` as it comes in a path: the gateway bounds subjects to 256 characters, no control characters. */
export const UserParamsSchema = Type.Object({
  userId: Type.String({ minLength: 1, maxLength: 256, pattern: '^[^\\u0000-\\u001f\\u007f]+$', description: 'the user\'s JWT sub' })
})

export const SuspendBodySchema = Type.Object({
  reason: Type.String({ minLength: 1, maxLength: 1024, description: 'shown to admins only (the user is told they are suspended, never why)' })
}, { additionalProperties: false })

/** An end user as an admin sees them (contract v2, "Users, safety and audit"). */
export const UserSchema = Type.Object({
  id: Type.String(),
  object: Type.Literal('user'),
  suspended: Type.Boolean(),
  suspended_at: NullableTime,
  suspension_reason: Type.Union([Type.String(), Type.Null()]),
  suspended_by: Type.Union([Type.String(), Type.Null()], { description: 'the admin\'s sub, or system (an automatic suspension)' }),
  safety: Type.Object({
    warnings: Type.Integer({ description: 'safety.warning_issued notices OpenAI sent about this user' }),
    last_warning_at: NullableTime,
    deactivations: Type.Integer({ description: 'safety.deactivation_issued notices' }),
    last_deactivation_at: NullableTime,
    last_notice: Type.Union([Type.Object({
      type: Type.Union([Type.Literal('warning'), Type.Literal('deactivation')]),
      case_id: Type.String(),
      at: UnixTimeSchema
    }), Type.Null()])
  }),
  usage_today: UsageSchema
})
export type UserView = Static<typeof UserSchema>
