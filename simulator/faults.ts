import { ApiError } from './errors.ts'
import { canonicalRoute, ROUTE_KEYS } from './routes.ts'
import type { RouteAlias, RouteKey } from './routes.ts'

interface RuleBase {
  /**
   * A route such as `POST /v1/responses` or `GET /v1/responses/{response_id}` (also written
   * `GET /v1/responses/{id}`), or `*` for every /v1 route.
   */
  route: RouteKey | RouteAlias | '*'
  /** How many matching calls the rule affects; 0 means every call from then on. Default 1. */
  times?: number
  /** How many matching calls to let through untouched first. Default 0. */
  after?: number
}

export type FaultRule = RuleBase & (
  | { kind: 'status', status: number, retryAfter?: number, code?: string, message?: string }
  | { kind: 'hang' }
  | { kind: 'reset' }
  | { kind: 'truncate-sse', afterEvents: number }
  | { kind: 'stuck-queued' }
  | { kind: 'latency', ms: number, jitterMs?: number }
)

export interface Latency {
  fixedMs: number
  jitterMs: number
}

/** What the matched rules do to one request. */
export interface FaultDecision {
  status?: { status: number, retryAfter?: number, code?: string, message?: string }
  hang?: boolean
  reset?: boolean
  truncateAfterEvents?: number
  stuckQueued?: boolean
  latencyMs: number
}

interface ActiveRule {
  id: number
  rule: FaultRule
  seen: number
  fired: number
}

const TERMINATING = new Set(['status', 'hang'])
const NO_FAULT: FaultDecision = Object.freeze({ latencyMs: 0 })

export class Faults {
  #rules: ActiveRule[] = []
  #nextId = 1

  add (rule: FaultRule): number {
    checkRule(rule)
    const id = this.#nextId++
    const route = rule.route === '*' ? '*' : canonicalRoute(rule.route) as RouteKey
    this.#rules.push({ id, rule: { ...rule, route }, seen: 0, fired: 0 })
    return id
  }

  clear (): void {
    this.#rules = []
  }

  list (): Array<FaultRule & { id: number, seen: number, fired: number }> {
    return this.#rules.map((r) => ({ ...r.rule, id: r.id, seen: r.seen, fired: r.fired }))
  }

  /** Counts this call against every rule of its route and returns what fires. */
  decide (route: string): FaultDecision {
    if (this.#rules.length === 0) return NO_FAULT
    const eligible: ActiveRule[] = []
    for (const r of this.#rules) {
      if (r.rule.route !== '*' && r.rule.route !== route) continue
      r.seen++
      const times = r.rule.times ?? 1
      if (r.seen <= (r.rule.after ?? 0)) continue
      if (times !== 0 && r.fired >= times) continue
      eligible.push(r)
    }
    const decision: FaultDecision = { latencyMs: 0 }
    const terminating = eligible.find((r) => TERMINATING.has(r.rule.kind))
    for (const r of eligible) {
      const rule = r.rule
      if (terminating && r !== terminating && rule.kind !== 'latency') continue
      if (rule.kind === 'latency') {
        decision.latencyMs += rule.ms + Math.random() * (rule.jitterMs ?? 0)
      } else if (rule.kind === 'status') {
        decision.status = { status: rule.status, retryAfter: rule.retryAfter, code: rule.code, message: rule.message }
      } else if (rule.kind === 'hang') {
        decision.hang = true
      } else if (rule.kind === 'reset') {
        decision.reset = true
      } else if (rule.kind === 'truncate-sse') {
        decision.truncateAfterEvents = rule.afterEvents
      } else {
        decision.stuckQueued = true
      }
      r.fired++
    }
    this.#rules = this.#rules.filter((r) => (r.rule.times ?? 1) === 0 || r.fired < (r.rule.times ?? 1))
    return decision
  }
}

export function latencyMs (latency: Latency): number {
  return latency.fixedMs + (latency.jitterMs > 0 ? Math.random() * latency.jitterMs : 0)
}

function isCount (value: unknown): boolean {
  return value === undefined || (Number.isInteger(value) && (value as number) >= 0)
}

function checkRule (rule: FaultRule): void {
  const fail = (message: string) => { throw new ApiError(400, `Invalid fault rule: ${message}`, { param: 'rule' }) }
  if (typeof rule !== 'object' || rule === null) fail('expected an object')
  if (rule.route !== '*' && canonicalRoute(String(rule.route)) === null) fail(`unknown route '${String(rule.route)}'; expected '*' or one of ${ROUTE_KEYS.join(', ')}`)
  if (!isCount(rule.times) || !isCount(rule.after)) fail('times and after must be non-negative integers')
  switch (rule.kind) {
    case 'status':
      if (!Number.isInteger(rule.status) || rule.status < 400 || rule.status > 599) fail('status must be an integer 400–599')
      if (rule.retryAfter !== undefined && !(typeof rule.retryAfter === 'number' && rule.retryAfter >= 0)) fail('retryAfter must be a number of seconds')
      break
    case 'truncate-sse':
      if (!isCount(rule.afterEvents) || rule.afterEvents === undefined) fail('afterEvents must be a non-negative integer')
      break
    case 'latency':
      if (!(typeof rule.ms === 'number' && rule.ms >= 0)) fail('ms must be a non-negative number')
      if (rule.jitterMs !== undefined && !(typeof rule.jitterMs === 'number' && rule.jitterMs >= 0)) fail('jitterMs must be a non-negative number')
      break
    case 'hang':
    case 'reset':
    case 'stuck-queued':
      break
    default:
      fail(`unknown kind '${String((rule as { kind?: unknown }).kind)}'`)
  }
}

/** The error body OpenAI sends with each status, so SDK error classes see familiar fields. */
export function faultError (fault: NonNullable<FaultDecision['status']>): ApiError {
  const headers: Record<string, string> = {}
  if (fault.retryAfter !== undefined) headers['retry-after'] = String(fault.retryAfter)
  const preset: Record<number, [string, string, string | null]> = {
    429: ['Rate limit reached for requests. Please try again later.', 'requests', 'rate_limit_exceeded'],
    500: ['The server had an error while processing your request. Sorry about that!', 'server_error', null],
    502: ['Bad gateway.', 'server_error', null],
    503: ['The engine is currently overloaded, please try again later.', 'server_error', null]
  }
  const [message, type, code] = preset[fault.status] ?? [`Simulated error ${fault.status}.`, fault.status >= 500 ? 'server_error' : 'invalid_request_error', null]
  return new ApiError(fault.status, fault.message ?? message, { type, code: fault.code ?? code, headers })
}
