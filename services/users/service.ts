import type { FastifyBaseLogger } from 'fastify'
import type { AuditService } from '../audit/service.ts'
import type { BudgetService } from '../budget-service.ts'
import { newUserRecord, type SafetyNotice, type Store, type UserRecord } from '../store/types.ts'

export interface UserServiceDeps {
  store: Store
  audit: AuditService
  budgets: BudgetService
  /** Cancels the user's active runs upstream; how many there were. */
  cancelRuns: (userId: string) => Promise<number>
  clock: () => number
  log: FastifyBaseLogger
}

/** Who acts, and in which request: what every audit entry records. */
export interface Actor { actor: string, requestId: string | null }

/**
 * End users as admins see and act on them: a user's state (suspension, OpenAI's safety notices, today's
 * usage), suspension with a reason (their active runs are cancelled upstream, nothing of theirs is
 * deleted) and its lifting. Every change is audited.
 */
export function createUserService ({ store, audit, budgets, cancelRuns, clock, log }: UserServiceDeps) {
  const seconds = () => Math.floor(clock() / 1000)

  async function view (userId: string, record?: UserRecord) {
    const user = record ?? await store.getUser(userId) ?? newUserRecord(userId, seconds())
    return {
      id: user.id,
      object: 'user' as const,
      suspended: user.suspended,
      suspended_at: user.suspended_at,
      suspension_reason: user.suspension_reason,
      suspended_by: user.suspended_by,
      safety: {
        warnings: user.safety_warnings,
        last_warning_at: user.last_warning_at,
        deactivations: user.safety_deactivations,
        last_deactivation_at: user.last_deactivation_at,
        last_notice: user.last_notice
      },
      usage_today: await budgets.usageFor(userId)
    }
  }

  return {
    view,

    /** Suspends the user from every instance at once (the store publishes it), then cancels their runs. */
    async suspend (userId: string, reason: string, by: Actor, details: Record<string, unknown> = {}) {
      const { user, changed } = await store.suspendUser(userId, { reason, by: by.actor, at: seconds() })
      // Cancelled after the suspension is written: a run started meanwhile stops at its next round (the driver checks).
      const cancelled = await cancelRuns(userId).catch(err => {
        log.error({ err, userId }, 'could not list the runs of a suspended user')
        return 0
      })
      await audit.record({ actor: by.actor, action: 'user.suspend', target: userId, requestId: by.requestId, details: { reason, changed, runs_cancelled: cancelled, ...details } })
      return view(userId, user)
    },

    async unsuspend (userId: string, by: Actor) {
      const { user, changed } = await store.unsuspendUser(userId, seconds())
      await audit.record({ actor: by.actor, action: 'user.unsuspend', target: userId, requestId: by.requestId, details: { changed } })
      return view(userId, user)
    },

    /** Counts an OpenAI safety notice on the user (the webhook's caller audits it with what it resolved). */
    recordSafetyNotice: (userId: string, notice: SafetyNotice) => store.recordSafetyNotice(userId, notice)
  }
}
export type UserService = ReturnType<typeof createUserService>
