import OpenAI from 'openai'
import type { FastifyBaseLogger } from 'fastify'
import { SYSTEM_ACTOR, type AuditService } from '../audit/service.ts'
import type { Config } from '../config.ts'
import type { UserIdentities } from '../users/identities.ts'
import type { UserService } from '../users/service.ts'
import type { WebhookEvent } from './verify.ts'

export const SAFETY_EVENTS = { 'safety.warning_issued': 'warning', 'safety.deactivation_issued': 'deactivation' } as const
export type SafetyEventType = keyof typeof SAFETY_EVENTS
export const isSafetyEvent = (type: string): type is SafetyEventType => Object.hasOwn(SAFETY_EVENTS, type)

/** A safety case as GET /v1/safety/cases/{id} answers it (the SDK's SafetyCase), read tolerantly. */
export interface SafetyCaseLookup {
  /** The case's safety identifier, or null when it could not be read (and why). */
  identifier: string | null
  reason: string | null
  unreadable: string | null
}

/**
 * Reads a safety case with the key that has api.safety.read. A refusal or an unknown case leaves the
 * notice unresolved; a failure OpenAI may not repeat (5xx, no connection) is thrown, so the delivery
 * fails and OpenAI delivers it again.
 */
export function createSafetyCaseReader (client: OpenAI | null) {
  return async (caseId: string): Promise<SafetyCaseLookup> => {
    if (!client) return { identifier: null, reason: null, unreadable: 'no OPENAI_SAFETY_API_KEY to read the case with' }
    try {
      const found = await client.safety.cases.retrieve(caseId) as { entity_identifier?: unknown, reason?: unknown }
      const identifier = typeof found.entity_identifier === 'string' ? found.entity_identifier : null
      return { identifier, reason: typeof found.reason === 'string' ? found.reason : null, unreadable: identifier ? null : 'the case names no identifier' }
    } catch (err) {
      if (err instanceof OpenAI.APIError && err.status !== undefined && err.status >= 400 && err.status < 500 && err.status !== 429) {
        return { identifier: null, reason: null, unreadable: `OpenAI answered ${err.status} reading the case` }
      }
      throw err
    }
  }
}
export type SafetyCaseReader = ReturnType<typeof createSafetyCaseReader>

export interface SafetyNoticeDeps {
  identities: Pick<UserIdentities, 'userOf'>
  users: Pick<UserService, 'recordSafetyNotice' | 'suspend'>
  audit: Pick<AuditService, 'record'>
  readCase: SafetyCaseReader
  config: Pick<Config, 'SAFETY_AUTO_SUSPEND'>
  clock: () => number
  log: FastifyBaseLogger
}

/**
 * OpenAI's safety notices, mapped to the end user: the identifier the notice carries (or the case's,
 * read when it carries only the case id) is looked up in the gateway's reverse index; the notice is
 * counted on the user, audited (as 'unresolved' when no user could be found, with why), and the user
 * suspended when SAFETY_AUTO_SUSPEND says so.
 */
export function createSafetyNoticeHandler ({ identities, users, audit, readCase, config, clock, log }: SafetyNoticeDeps) {
  const suspends = (notice: 'warning' | 'deactivation') =>
    config.SAFETY_AUTO_SUSPEND === 'any' || (config.SAFETY_AUTO_SUSPEND === 'deactivation' && notice === 'deactivation')

  return async function handleSafetyNotice (event: WebhookEvent & { type: SafetyEventType }, requestId: string): Promise<void> {
    const notice = SAFETY_EVENTS[event.type]
    const caseId = typeof event.data.id === 'string' ? event.data.id : null
    let identifier = typeof event.data.safety_identifier === 'string' ? event.data.safety_identifier : null
    let reason: string | null = null
    let unresolved: string | null = null
    if (identifier === null) {
      if (caseId === null) unresolved = 'the notice carries neither a safety identifier nor a case id'
      else ({ identifier, reason, unreadable: unresolved } = await readCase(caseId))
    }
    const userId = identifier === null ? null : await identities.userOf(identifier)
    if (identifier !== null && userId === null) unresolved = 'the safety identifier was not issued by this gateway'

    const at = Math.floor(clock() / 1000)
    if (userId !== null) await users.recordSafetyNotice(userId, { type: notice, case_id: caseId ?? '', at })
    await audit.record({
      actor: SYSTEM_ACTOR,
      action: event.type,
      target: userId,
      requestId,
      details: { event_id: event.id, case_id: caseId, safety_identifier: identifier, resolution: userId !== null ? 'resolved' : 'unresolved', ...(unresolved ? { unresolved } : {}), ...(reason ? { reason } : {}) }
    })
    if (userId === null) {
      log.warn({ caseId, notice, why: unresolved }, 'an OpenAI safety notice could not be mapped to a user')
      return
    }
    log.warn({ caseId, notice, userId }, 'OpenAI issued a safety notice about a user')
    if (suspends(notice)) {
      await users.suspend(userId, `Automatic: OpenAI safety ${notice}${caseId ? ` (case ${caseId})` : ''}`, { actor: SYSTEM_ACTOR, requestId }, { case_id: caseId, policy: config.SAFETY_AUTO_SUSPEND })
    }
  }
}
