import { join } from 'node:path'
import { Type, type Static } from 'typebox'
import { loadJsonFile, type Config } from './config.ts'
import { BudgetExceeded, withDetails } from './errors.ts'
import type { Metrics } from './metrics.ts'
import { USAGE_AMOUNTS, type BudgetLimits, type LedgerRow, type Reservation, type ReserveResult, type Store, type UsageAmounts } from './store/types.ts'
import type { TokenUsage } from '../schemas/usage.ts'

export const BUNDLED_PRICES_FILE = join(import.meta.dirname, '..', 'config', 'prices.json')

const PriceSchema = Type.Object({
  input: Type.Optional(Type.Number({ minimum: 0 })),
  cached_input: Type.Optional(Type.Number({ minimum: 0 })),
  /** Input written to the prompt cache, where the model charges for it apart (1.25 × input for GPT-5.6 and later); default: input. */
  cache_write_input: Type.Optional(Type.Number({ minimum: 0 })),
  output: Type.Optional(Type.Number({ minimum: 0 })),
  audio_per_minute: Type.Optional(Type.Number({ minimum: 0 }))
}, { additionalProperties: false })
const PricesFileSchema = Type.Object({
  $comment: Type.Optional(Type.String()),
  updated: Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}$' }),
  currency: Type.String({ minLength: 3, maxLength: 3 }),
  models: Type.Record(Type.String(), PriceSchema)
}, { additionalProperties: false })
export type PriceTable = Static<typeof PricesFileSchema>

export function loadPrices (path = BUNDLED_PRICES_FILE): PriceTable {
  return loadJsonFile<PriceTable>('PRICES_FILE', path, PricesFileSchema)
}

export function estimateCost (prices: PriceTable, model: string, usage: TokenUsage, audioSeconds = 0): number {
  const price = prices.models[model]
  if (!price) return 0
  const perToken = (n: number, usdPerMillion = 0) => n * usdPerMillion / 1_000_000
  // Cached reads and cache writes are parts of input_tokens, each at its own price; the rest at the input price.
  const cost = perToken(usage.input_tokens - usage.cached_tokens - usage.cache_write_tokens, price.input) +
    perToken(usage.cached_tokens, price.cached_input ?? price.input) +
    perToken(usage.cache_write_tokens, price.cache_write_input ?? price.input) +
    perToken(usage.output_tokens, price.output) +
    (audioSeconds / 60) * (price.audio_per_minute ?? 0)
  return Math.round(cost * 1e6) / 1e6
}

/** The budget day of an instant: UTC shifted by the configured offset. */
export function budgetDay (ms: number, offsetMinutes: number): { day: string, startsAt: number, resetsAt: number } {
  const shifted = ms + offsetMinutes * 60_000
  const day = new Date(shifted).toISOString().slice(0, 10)
  const startsAt = Date.parse(`${day}T00:00:00Z`) - offsetMinutes * 60_000
  return { day, startsAt, resetsAt: startsAt + 86_400_000 }
}

export const ZERO_USAGE: TokenUsage = { input_tokens: 0, cached_tokens: 0, cache_write_tokens: 0, output_tokens: 0, reasoning_tokens: 0, total_tokens: 0 }

/**
 * What a refusal by reservations in flight tells the client: retry in seconds (the SDKs retry a 429 whose
 * Retry-After is at most 60 s). Reservations are released as soon as their run ends, usually within seconds.
 */
export const IN_FLIGHT_RETRY_AFTER_S = 2
/** How often a waiting reservation is retried without a hint from the change feed: from 50 ms, doubling, up to 1 s. */
const RETRY_FIRST_MS = 50
const RETRY_MAX_MS = 1000
/** Retries woken by the change feed are at least this far apart (a busy feed must not hammer the store). */
const RETRY_MIN_GAP_MS = 25

/** How long a reservation may wait for reservations in flight to settle, and what stops the wait early. */
export interface BudgetWait {
  waitMs: number
  signal?: AbortSignal
}

/**
 * Daily budgets that cannot be overshot by concurrency: every upstream call first reserves an upper
 * estimate atomically in the store (nothing is sent when it does not fit), then settles to the real
 * usage, which also goes into the durable ledger with an estimated cost.
 *
 * A refusal tells the truth: when the day's settled usage leaves no room, the reset time (Retry-After to
 * midnight, no retry); when only reservations in flight stand in the way, the request waits for them to
 * settle (bounded by BUDGET_WAIT_MS and the caller's own wait), and if they do not, a Retry-After of
 * seconds the SDKs honour. The wait retries the same atomic reservation, so it never overshoots.
 */
export function createBudgetService ({ store, config, clock, prices, metrics }: { store: Store, config: Config, clock: () => number, prices: PriceTable, metrics?: Metrics }) {
  const today = () => budgetDay(clock(), config.BUDGET_DAY_OFFSET_MINUTES)

  const SETTLED: Record<string, string> = {
    user_tokens: 'Your daily token budget is used up',
    user_audio: 'Your daily audio budget is used up',
    assistant_tokens: 'This assistant\'s daily token budget is used up',
    global_tokens: 'The gateway\'s daily token budget is used up'
  }
  const IN_FLIGHT: Record<string, string> = {
    user_tokens: 'Your daily token budget is held by your runs in progress',
    user_audio: 'Your daily audio budget is held by your transcriptions in progress',
    assistant_tokens: 'This assistant\'s daily token budget is held by runs in progress',
    global_tokens: 'The gateway\'s daily token budget is held by runs in progress'
  }

  function exceeded (refusal: Extract<ReserveResult, { ok: false }>): Error {
    metrics?.budgetRefusals.inc({ scope: refusal.scope, blocked_by: refusal.blockedBy })
    if (refusal.blockedBy === 'reservations') {
      return withDetails(new BudgetExceeded(`${IN_FLIGHT[refusal.scope] ?? 'A daily budget is held by requests in progress'}; retry in a few seconds`),
        { retryAfterSeconds: IN_FLIGHT_RETRY_AFTER_S })
    }
    const { resetsAt } = today()
    const retryAfterSeconds = Math.max(1, Math.ceil((resetsAt - clock()) / 1000))
    return withDetails(new BudgetExceeded(`${SETTLED[refusal.scope] ?? 'A daily budget is used up'}; it resets at ${new Date(resetsAt).toISOString()}`), { retryAfterSeconds })
  }

  /** Resolves after `ms`, or earlier when a run changes anywhere (a settle or release may have freed budget), or on abort. */
  function nap (ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise(resolve => {
      let unsubscribe = () => {}
      const done = () => {
        clearTimeout(timer)
        unsubscribe()
        signal?.removeEventListener('abort', done)
        resolve()
      }
      const timer = setTimeout(done, ms)
      unsubscribe = store.changes.subscribe('run', done)
      signal?.addEventListener('abort', done, { once: true })
    })
  }

  /**
   * One reservation, waiting (bounded) while only reservations in flight refuse it. The bound is on this
   * process's monotonic time, not the injectable clock: it is how long a caller waits, not a budget day.
   */
  async function reserve (reservation: Reservation, budgetLimits: BudgetLimits, wait?: BudgetWait): Promise<ReserveResult> {
    const waitMs = Math.min(wait?.waitMs ?? 0, config.BUDGET_WAIT_MS)
    const deadline = performance.now() + waitMs
    let backoff = RETRY_FIRST_MS
    for (;;) {
      const result = await store.reserveBudget(reservation, budgetLimits)
      if (result.ok || result.blockedBy === 'usage' || wait?.signal?.aborted) return result
      const left = deadline - performance.now()
      if (left <= 0) return result
      const started = performance.now()
      await nap(Math.min(backoff, left), wait?.signal)
      backoff = Math.min(backoff * 2, RETRY_MAX_MS)
      const gap = RETRY_MIN_GAP_MS - (performance.now() - started)
      if (gap > 0) await new Promise(resolve => setTimeout(resolve, gap))
    }
  }

  function limits (assistantCap = 0): BudgetLimits {
    return {
      userTokens: config.BUDGET_USER_DAILY_TOKENS,
      globalTokens: config.BUDGET_GLOBAL_DAILY_TOKENS,
      userAudioSeconds: config.BUDGET_USER_DAILY_AUDIO_SECONDS,
      assistantTokens: assistantCap
    }
  }

  return {
    today,
    /**
     * Reserves tokens for one upstream response; throws 429 BUDGET_EXCEEDED when it does not fit, after
     * waiting up to `wait` (capped by BUDGET_WAIT_MS) when only reservations in flight are in the way.
     */
    async reserveTokens (r: { id: string, user: string, assistant: string, tokens: number, assistantCap: number, expiresAt: number }, wait?: BudgetWait): Promise<void> {
      const result = await reserve(
        { id: r.id, day: today().day, user: r.user, assistant: r.assistant, tokens: Math.ceil(r.tokens), audio_seconds: 0, expires_at: r.expiresAt },
        limits(r.assistantCap), wait)
      if (!result.ok) throw exceeded(result)
    },
    async reserveAudio (r: { id: string, user: string, seconds: number, expiresAt: number }, wait?: BudgetWait): Promise<void> {
      const result = await reserve(
        { id: r.id, day: today().day, user: r.user, assistant: 'transcription', tokens: 0, audio_seconds: r.seconds, expires_at: r.expiresAt },
        limits(), wait)
      if (!result.ok) throw exceeded(result)
    },
    /**
     * Refuses (429, to the reset) only when the day's settled audio leaves no room at all: reservations in
     * flight may still settle below their estimates, and the real reservation waits for them.
     */
    async ensureAudioLeft (user: string): Promise<void> {
      if (config.BUDGET_USER_DAILY_AUDIO_SECONDS === 0) return
      const { day } = today()
      const counters = await store.budgetCounters(day, user)
      if (counters.user_audio_seconds >= config.BUDGET_USER_DAILY_AUDIO_SECONDS) throw exceeded({ ok: false, scope: 'user_audio', blockedBy: 'usage' })
    },
    /**
     * Settles a reservation to what was really used and writes the ledger (exactly once per
     * reservation id, however often it is called). `responseModel`: the model that answered an upstream
     * response, whose tokens are then also counted in the GenAI terms (gen_ai.client.token.usage).
     */
    async settle (reservationId: string, entry: { user: string, assistant: string, model: string, responseModel?: string, usage: TokenUsage, audioSeconds?: number, runs?: number }): Promise<void> {
      const audioSeconds = entry.audioSeconds ?? 0
      const row: LedgerRow = {
        // Only recordUsage (the reservation expired or was released) uses this day: settleBudget
        // charges the reservation's own day, so a call that straddles midnight stays on the day it reserved.
        day: today().day,
        user: entry.user,
        assistant: entry.assistant,
        model: entry.model,
        ...entry.usage,
        audio_seconds: audioSeconds,
        runs: entry.runs ?? 0,
        cost_usd: estimateCost(prices, entry.model, entry.usage, audioSeconds)
      }
      const applied = await store.settleBudget(reservationId, row) || await store.recordUsage(reservationId, row)
      if (!applied) return
      const labels = { assistant: entry.assistant, model: entry.model }
      metrics?.tokens.inc({ ...labels, kind: 'input' }, entry.usage.input_tokens)
      metrics?.tokens.inc({ ...labels, kind: 'cached' }, entry.usage.cached_tokens)
      metrics?.tokens.inc({ ...labels, kind: 'cache_write' }, entry.usage.cache_write_tokens)
      metrics?.tokens.inc({ ...labels, kind: 'output' }, entry.usage.output_tokens)
      metrics?.tokens.inc({ ...labels, kind: 'reasoning' }, entry.usage.reasoning_tokens)
      metrics?.costUsd.inc(labels, row.cost_usd)
      metrics?.genAi.cost(labels, row.cost_usd)
      if (entry.responseModel !== undefined) {
        metrics?.genAi.tokens({ operation: 'chat', requestModel: entry.model, responseModel: entry.responseModel, assistant: entry.assistant }, entry.usage)
      }
      if (audioSeconds > 0) metrics?.audioSeconds.inc({ model: entry.model }, audioSeconds)
    },
    async release (reservationId: string): Promise<void> {
      await store.releaseBudget(reservationId)
    },
    /** The caller's figures for today, for GET /usage. */
    async usageFor (user: string) {
      const { day, resetsAt } = today()
      const [counters, ledger, threads, files] = await Promise.all([
        store.budgetCounters(day, user), store.usageLedger(day, user), store.countThreads(user), store.countFiles(user)
      ])
      const sum = (field: keyof UsageAmounts) => ledger.reduce((n, row) => n + row[field], 0)
      const remaining = (limit: number, used: number, reserved: number) => limit === 0 ? null : Math.max(0, limit - used - reserved)
      return {
        object: 'usage' as const,
        date: day,
        resets_at: Math.floor(resetsAt / 1000),
        tokens: { input: sum('input_tokens'), cached: sum('cached_tokens'), cache_write: sum('cache_write_tokens'), output: sum('output_tokens'), reasoning: sum('reasoning_tokens'), total: sum('total_tokens') },
        audio_seconds: sum('audio_seconds'),
        runs: sum('runs'),
        reserved: { tokens: counters.reserved_user_tokens, audio_seconds: counters.reserved_user_audio_seconds },
        limits: { tokens: config.BUDGET_USER_DAILY_TOKENS || null, audio_seconds: config.BUDGET_USER_DAILY_AUDIO_SECONDS || null },
        remaining: {
          tokens: remaining(config.BUDGET_USER_DAILY_TOKENS, counters.user_tokens, counters.reserved_user_tokens),
          audio_seconds: remaining(config.BUDGET_USER_DAILY_AUDIO_SECONDS, counters.user_audio_seconds, counters.reserved_user_audio_seconds)
        },
        stored: {
          threads: { count: threads, limit: config.THREADS_MAX_PER_USER || null },
          files: { count: files, limit: config.FILES_MAX_PER_USER || null }
        }
      }
    },
    prices
  }
}
export type BudgetService = ReturnType<typeof createBudgetService>

type Amounts = UsageAmounts
const zeroAmounts = (): Amounts => Object.fromEntries(USAGE_AMOUNTS.map(f => [f, 0])) as Amounts
function add (into: Amounts, row: Amounts): void {
  for (const field of USAGE_AMOUNTS) into[field] += row[field]
}
const roundCost = (amounts: Amounts) => ({ ...amounts, cost_usd: Math.round(amounts.cost_usd * 1e6) / 1e6 })

/** The admin report of one budget day: per user (and per assistant/model), totals, the global budget. */
export async function usageReport (store: Store, config: Config, prices: PriceTable, day: string) {
  const [rows, counters] = await Promise.all([store.usageLedger(day), store.budgetCounters(day, '')])
  const users = new Map<string, Amounts & { by_model: Array<Amounts & { assistant: string, model: string }> }>()
  const totals = zeroAmounts()
  for (const row of rows) {
    let user = users.get(row.user)
    if (!user) {
      user = { ...zeroAmounts(), by_model: [] }
      users.set(row.user, user)
    }
    const amounts = Object.fromEntries(USAGE_AMOUNTS.map(f => [f, row[f]])) as Amounts
    add(user, amounts)
    add(totals, amounts)
    user.by_model.push({ assistant: row.assistant, model: row.model, ...roundCost(amounts) })
  }
  return {
    object: 'usage.report' as const,
    date: day,
    currency: prices.currency,
    prices_updated: prices.updated,
    users: [...users.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([user, amounts]) => ({ user, ...roundCost(amounts), by_model: amounts.by_model })),
    totals: roundCost(totals),
    global: {
      tokens_limit: config.BUDGET_GLOBAL_DAILY_TOKENS || null,
      tokens_used: counters.global_tokens,
      tokens_reserved: counters.reserved_global_tokens
    }
  }
}
