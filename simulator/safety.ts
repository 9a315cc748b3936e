// OpenAI's safety enforcement (UPSTREAM.md §13), newer than the shipped openapi.json: a response whose
// user message carries [safety:warning] or [safety:deactivation] opens a case when it ends and raises the
// org-level safety.*_issued webhook; GET /v1/safety/cases/{case_id} reads the case with a key that has
// api.safety.read. Shapes follow the openai SDK 7.57 (SafetyCase, Safety*IssuedWebhookEvent).
import type { Core, ResponseRecord } from './core.ts'
import { nowSeconds } from './core.ts'
import { ApiError, notFound } from './errors.ts'
import type { Handler } from './http.ts'
import { send } from './http.ts'
import { hexId } from './ids.ts'

export interface SafetyCase {
  id: string
  object: 'safety.case'
  created_at: number
  /** The SDK's name for whom the case is about: the request's safety_identifier (else the organisation). */
  entity_identifier: string
  safety_identifier: string | null
  notice: { type: 'warning' | 'deactivation' }
  reason: string
  /** Not in the SDK's type: the response that raised it, for tests to match. */
  response_id: string
}

export type SafetyNoticeData = 'with-identifier' | 'case-only'

// Cases live until reset(); a benchmark that raises notices without end must not grow the map for ever.
const MAX_CASES = 10_000
const ORGANISATION = 'org-simulator'

const REASONS = {
  warning: 'Requests with this safety identifier were flagged for potential usage policy violations (simulated by the [safety:warning] directive).',
  deactivation: 'Access for this safety identifier was deactivated after repeated usage policy violations (simulated by the [safety:deactivation] directive).'
}

/** Opens the case a finished response's [safety:…] directive asks for and raises its webhook. */
export function raiseSafetyNotice (core: Core, rec: ResponseRecord): void {
  const trigger = rec.plan.safety
  if (trigger === null) return
  const identifier = typeof rec.wire.safety_identifier === 'string' ? rec.wire.safety_identifier : null
  const safetyCase: SafetyCase = {
    id: hexId('case_').slice(0, 37),
    object: 'safety.case',
    created_at: nowSeconds(),
    entity_identifier: identifier ?? ORGANISATION,
    safety_identifier: identifier,
    notice: { type: trigger.notice },
    reason: REASONS[trigger.notice],
    response_id: rec.id
  }
  if (core.safetyCases.size >= MAX_CASES) {
    const oldest = core.safetyCases.keys().next().value
    if (oldest !== undefined) core.safetyCases.delete(oldest)
  }
  core.safetyCases.set(safetyCase.id, safetyCase)
  const caseOnly = trigger.caseOnly || core.config.safetyNotices === 'case-only'
  core.webhooks.emit(`safety.${trigger.notice}_issued`, caseOnly ? { id: safetyCase.id } : { id: safetyCase.id, safety_identifier: identifier })
}

function bearer (header: string | undefined): string {
  return header?.startsWith('Bearer ') ? header.slice(7).trim() : ''
}

export const retrieveSafetyCase: Handler = (ctx) => {
  if (!ctx.core.config.safetyReadKeys.has(bearer(ctx.req.headers.authorization))) {
    throw new ApiError(403, 'You have insufficient permissions for this operation. Missing scopes: api.safety.read. ' +
      'Check that you have the correct role in your organization (Reader, Writer, Owner) and project (Member, Owner), ' +
      'and if you\'re using a restricted API key, that it has the necessary scopes.')
  }
  const safetyCase = ctx.core.safetyCases.get(ctx.params.case_id)
  if (!safetyCase) throw notFound(`Safety case with id '${ctx.params.case_id}' not found.`)
  send(ctx, 200, safetyCase)
}
