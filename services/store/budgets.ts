import type { Fields } from './fields.ts'
import { fieldNames } from './fields.ts'
import type { UsageAmounts } from '../../schemas/usage.ts'

/** The amounts the ledger sums: the usage report's, which is where their type is stated. */
export type { UsageAmounts } from '../../schemas/usage.ts'

export const USAGE_FIELDS: Fields<UsageAmounts> = {
  input_tokens: 'value',
  cached_tokens: 'value',
  cache_write_tokens: 'value',
  output_tokens: 'value',
  reasoning_tokens: 'value',
  total_tokens: 'value',
  audio_seconds: 'value',
  runs: 'value',
  cost_usd: 'value'
}
/** The amounts a ledger row sums, in one order for SQLite columns and the Lua scripts' arguments. */
export const USAGE_AMOUNTS = fieldNames(USAGE_FIELDS)

export interface LedgerKey {
  /** Budget day, YYYY-MM-DD. */
  day: string
  user: string
  /** Assistant id, or 'transcription'. */
  assistant: string
  model: string
}
export interface LedgerRow extends LedgerKey, UsageAmounts {}

export const LEDGER_FIELDS: Fields<LedgerRow> = { day: 'raw', user: 'raw', assistant: 'raw', model: 'raw', ...USAGE_FIELDS }

export interface BudgetLimits {
  /** 0 = unlimited, for each. */
  userTokens: number
  globalTokens: number
  userAudioSeconds: number
  assistantTokens: number
}

export interface Reservation {
  id: string
  day: string
  user: string
  assistant: string
  tokens: number
  audio_seconds: number
  /** Unix ms: an unsettled reservation past this is released by the sweeper (crash safety). */
  expires_at: number
}

export const RESERVATION_FIELDS: Fields<Reservation> = {
  id: 'raw',
  day: 'raw',
  user: 'raw',
  assistant: 'raw',
  tokens: 'value',
  audio_seconds: 'value',
  expires_at: 'value'
}

/**
 * The budgets, in the order reserveBudget checks them (a refusal names the first that does not fit).
 * Each keeps a `used` and a `reserved` counter per day and subject (the reservation's user or assistant,
 * or '' for the global one): a reservation adds `reserves` to `reserved`, usage adds `uses` to `used`.
 * `counter` is the field budgetCounters reports it under (and `reserved_<counter>`).
 */
export const BUDGET_SCOPES = [
  { scope: 'user_tokens', limit: 'userTokens', subject: 'user', reserves: 'tokens', uses: 'total_tokens', counter: 'user_tokens' },
  { scope: 'user_audio', limit: 'userAudioSeconds', subject: 'user', reserves: 'audio_seconds', uses: 'audio_seconds', counter: 'user_audio_seconds' },
  { scope: 'assistant_tokens', limit: 'assistantTokens', subject: 'assistant', reserves: 'tokens', uses: 'total_tokens', counter: 'assistant_tokens' },
  { scope: 'global_tokens', limit: 'globalTokens', subject: null, reserves: 'tokens', uses: 'total_tokens', counter: 'global_tokens' }
] as const satisfies ReadonlyArray<{
  scope: string
  limit: keyof BudgetLimits
  subject: 'user' | 'assistant' | null
  reserves: 'tokens' | 'audio_seconds'
  uses: keyof UsageAmounts
  counter: keyof BudgetCounters | 'assistant_tokens'
}>
export type BudgetScope = typeof BUDGET_SCOPES[number]

/** Whose counter of `scope` a reservation or a usage row moves. */
export const budgetSubject = (scope: BudgetScope, of: { user: string, assistant: string }) => scope.subject === null ? '' : of[scope.subject]

/**
 * A refusal says what stands in the way: `usage` when the day's settled usage alone leaves no room for
 * the amount (only the budget's reset helps), `reservations` when it would fit but reservations still in
 * flight hold the rest (it may fit in seconds, once they settle below their estimates or are released).
 * A scope refused by usage is named before one refused by reservations, each group in BUDGET_SCOPES order.
 */
export type ReserveResult = { ok: true } | { ok: false, scope: BudgetScope['scope'], blockedBy: 'usage' | 'reservations' }

export interface BudgetCounters {
  user_tokens: number
  global_tokens: number
  user_audio_seconds: number
  /** What is currently reserved (not yet settled) in each counter. */
  reserved_user_tokens: number
  reserved_global_tokens: number
  reserved_user_audio_seconds: number
}
export type AssistantBudgetCounters = BudgetCounters & { assistant_tokens: number, reserved_assistant_tokens: number }

/**
 * budgetCounters' answer from each scope's `used` and `reserved`; without an assistant, its scope reads 0.
 */
export function countersOf (read: (scope: BudgetScope) => { used: number, reserved: number } | null): AssistantBudgetCounters {
  const out: Record<string, number> = {}
  for (const scope of BUDGET_SCOPES) {
    const { used, reserved } = read(scope) ?? { used: 0, reserved: 0 }
    out[scope.counter] = used
    out[`reserved_${scope.counter}`] = reserved
  }
  return out as unknown as AssistantBudgetCounters
}

/** Budgets and the usage ledger. */
export interface BudgetStore {
  /** Reserves `tokens`/`audio_seconds` against every non-zero limit, or nothing if one does not fit (and says why). */
  reserveBudget (reservation: Reservation, limits: BudgetLimits): Promise<ReserveResult>
  /**
   * Releases the reservation and, in the same operation, adds the actual usage to the budget counters
   * and the ledger row. The usage counts on the reservation's day, whatever `usage.day` says: a call
   * reserved before midnight and settled after it is charged to the day that admitted it, never to a
   * day it had no reservation on. A reservation already settled or released is ignored (returns false), so a
   * retried settle never counts twice. Settling also records the reservation id as an applied usage
   * id, so `settleBudget(id, u) || recordUsage(id, u)` counts the usage exactly once in every case.
   */
  settleBudget (reservationId: string, usage: LedgerRow): Promise<boolean>
  /**
   * Adds usage that had no reservation (e.g. recovered after a crash, or its reservation expired),
   * on `usage.day`, idempotently per `usageId`.
   */
  recordUsage (usageId: string, usage: LedgerRow): Promise<boolean>
  releaseBudget (reservationId: string): Promise<boolean>
  /** Releases reservations whose expires_at has passed; returns how many. */
  releaseExpiredReservations (): Promise<number>
  budgetCounters (day: string, user: string, assistant?: string): Promise<AssistantBudgetCounters>
  /** Ledger rows of a day, optionally for one user. */
  usageLedger (day: string, user?: string): Promise<LedgerRow[]>
}
