/**
 * Everything the gateway must remember, behind one interface with two backends: SQLite (embedded,
 * one instance) and Redis (several instances). Operations that must be atomic — take a lock, start a
 * run, claim an idempotency key, reserve budget — are single store operations, never read-then-write
 * in the caller. Times are Unix milliseconds from the store's clock unless a field says seconds.
 */

export type Order = 'asc' | 'desc'
export interface PageQuery { limit: number, order: Order, after?: string }
export interface Page<T> { data: T[], hasMore: boolean }

export interface ThreadRecord {
  id: string
  owner: string
  title: string | null
  metadata: Record<string, string>
  /** Unix seconds. */
  created_at: number
  updated_at: number
  /** Upper estimate of the input tokens the thread's next response reads (budget reservations). */
  token_estimate: number
  /**
   * Bumped by every updateThread. Every write to the conversation goes through the gateway and updates
   * the thread, so an unchanged revision means unchanged messages (what the message cache relies on).
   */
  revision: number
}

export interface MessageRecord {
  thread_id: string
  item_id: string
  /** Unix seconds: when the gateway saw the message. */
  created_at: number
  run_id: string | null
  attachments: string[]
}

export interface FileRecord {
  id: string
  owner: string
  filename: string
  bytes: number
  purpose: 'user_data' | 'vision'
  /** Media type identified from the bytes. */
  mime: string
  created_at: number
}

export type RunStatus = 'queued' | 'in_progress' | 'completed' | 'incomplete' | 'failed' | 'cancelling' | 'cancelled'
export const ACTIVE_RUN_STATUSES: readonly RunStatus[] = ['queued', 'in_progress', 'cancelling']
export const isActiveRunStatus = (s: RunStatus) => ACTIVE_RUN_STATUSES.includes(s)

export interface RunUsage {
  input_tokens: number
  cached_tokens: number
  output_tokens: number
  reasoning_tokens: number
  total_tokens: number
}

export interface RunRecord {
  id: string
  thread_id: string
  owner: string
  assistant_type: string
  /** Profile version the run was started with. */
  assistant_version: number
  model: string
  status: RunStatus
  /** Unix seconds. */
  created_at: number
  started_at: number | null
  completed_at: number | null
  cancelled_at: number | null
  failed_at: number | null
  last_error: { code: string, message: string } | null
  incomplete_details: { reason: string } | null
  /** Summed over every settled upstream response of the run; null until the run ends. */
  usage: RunUsage | null
  temperature: number | null
  top_p: number | null
  max_output_tokens: number | null
  stream: boolean
  /** Upstream responses of the run, in order; the last one is the one in flight or last finished. */
  response_ids: string[]
  /** Responses whose usage has already been added to `usage` and the ledger (never counted twice). */
  settled_response_ids: string[]
  /** Tool-call rounds done so far. */
  tool_rounds: number
  /** Set by the cancel route; the driver sees it and cancels upstream. */
  cancel_requested: boolean
  /** Budget reservation currently held for the response in flight, if any. */
  reservation_id: string | null
  /** Unix ms after which the run is failed with run_timeout. */
  deadline_at: number
  /** Worker currently driving the run and until when (lease); fence increases on every claim. */
  lease_owner: string | null
  lease_expires_at: number
  fence: number
  /** Input of the next round (tool outputs) computed but not yet sent upstream; a resume sends it as is. */
  pending_input: unknown[] | null
  /** Unix ms when an upstream response started being created and its id is not yet recorded. */
  creating_since: number | null
}

export interface AssistantProfile {
  id: string
  name: string
  description: string
  model: string
  instructions: string
  tools: string[]
  temperature: number | null
  top_p: number | null
  /** Whether the model accepts temperature/top_p (reasoning models reject them). */
  accepts_sampling: boolean
  max_output_tokens: number
  /** Optional daily token cap for this assistant across all users; 0 = none. */
  daily_token_cap: number
}

export interface StoredAssistant {
  profile: AssistantProfile | null
  /** A tombstone (profile null, deleted true) hides a profile that comes from the agents file. */
  deleted: boolean
  version: number
  /** Unix seconds. */
  updated_at: number
}

export interface StoredReply {
  status: number
  body: unknown
  headers: Record<string, string>
}

export type IdempotencyClaim =
  | { state: 'new' }
  | { state: 'in_progress' }
  | { state: 'mismatch' }
  | { state: 'replay', reply: StoredReply }

export interface UsageAmounts {
  input_tokens: number
  cached_tokens: number
  output_tokens: number
  reasoning_tokens: number
  total_tokens: number
  audio_seconds: number
  runs: number
  cost_usd: number
}

export interface LedgerKey {
  /** Budget day, YYYY-MM-DD. */
  day: string
  user: string
  /** Assistant id, or 'transcription'. */
  assistant: string
  model: string
}
export interface LedgerRow extends LedgerKey, UsageAmounts {}

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

export type ReserveResult = { ok: true } | { ok: false, scope: 'user_tokens' | 'global_tokens' | 'user_audio' | 'assistant_tokens' }

export interface BudgetCounters {
  user_tokens: number
  global_tokens: number
  user_audio_seconds: number
  /** What is currently reserved (not yet settled) in each counter. */
  reserved_user_tokens: number
  reserved_global_tokens: number
  reserved_user_audio_seconds: number
}

export interface Store {
  readonly kind: 'sqlite' | 'redis'
  /** Cheap liveness check for readiness probes; throws when the store cannot answer. */
  ping (): Promise<void>
  close (): Promise<void>

  // Threads
  createThread (thread: ThreadRecord): Promise<void>
  getThread (id: string): Promise<ThreadRecord | null>
  /** The caller's threads, newest first for desc; `after` is a thread id from a previous page. */
  listThreads (owner: string, page: PageQuery): Promise<Page<ThreadRecord>>
  /** Applies the patch and increments `revision`, atomically. */
  updateThread (id: string, patch: Partial<Pick<ThreadRecord, 'title' | 'metadata' | 'updated_at' | 'token_estimate'>>): Promise<ThreadRecord | null>
  /** Removes the thread, its message index and its runs. */
  deleteThread (id: string): Promise<void>

  // Message index (upstream item id → when the gateway saw it, which run produced it, attachments)
  putMessages (records: MessageRecord[]): Promise<void>
  getMessages (threadId: string, itemIds: string[]): Promise<Map<string, MessageRecord>>

  // Files
  createFile (file: FileRecord): Promise<void>
  getFile (id: string): Promise<FileRecord | null>
  listFiles (owner: string, page: PageQuery): Promise<Page<FileRecord>>
  deleteFile (id: string): Promise<void>

  // Locks with leases. A lock is held by `holder` until released or expired; every successful
  // acquisition returns a fence token larger than any before it for that key.
  acquireLock (key: string, holder: string, ttlMs: number): Promise<number | null>
  renewLock (key: string, holder: string, ttlMs: number): Promise<boolean>
  releaseLock (key: string, holder: string): Promise<boolean>

  // Runs
  /**
   * Atomically: takes the thread's lock `thread:<thread_id>` for the run (holder = run id, ttl =
   * threadLockTtlMs), checks the owner has fewer than maxActivePerUser active runs, and inserts the
   * run. Nothing is written when either check fails.
   */
  createRun (run: RunRecord, opts: { maxActivePerUser: number, threadLockTtlMs: number }):
  Promise<{ ok: true } | { ok: false, reason: 'thread_busy' | 'too_many_active' }>
  getRun (id: string): Promise<RunRecord | null>
  listRuns (threadId: string, page: PageQuery): Promise<Page<RunRecord>>
  /** Runs that are active and whose lease has expired (their driver died): candidates for resumption. */
  listOrphanedRuns (limit: number): Promise<RunRecord[]>
  /** Claims the run's lease for `worker` if it is free, expired, or already the worker's; returns the new fence. */
  claimRun (id: string, worker: string, leaseMs: number): Promise<number | null>
  /** Extends the lease; false when another worker has claimed the run since (the fence moved). */
  renewRun (id: string, worker: string, fence: number, leaseMs: number): Promise<boolean>
  /** Gives the lease up (graceful shutdown) so another worker can resume the run at once. */
  releaseRun (id: string, worker: string, fence: number): Promise<boolean>
  /**
   * Applies the patch only if `fence` is still current (null fence: unconditional, for flags such as
   * cancel_requested). When the patch makes the run terminal, the thread lock held by the run is
   * released and the lease cleared in the same operation. A finished run stays finished: a patch that
   * changes a terminal run's status is refused (null). Identity and lease fields are never patched.
   * Returns the updated run, or null.
   */
  updateRun (id: string, patch: Partial<RunRecord>, fence: number | null): Promise<RunRecord | null>

  // Assistant profiles saved by admins (override the agents file)
  getAssistant (id: string): Promise<StoredAssistant | null>
  listAssistants (): Promise<Array<StoredAssistant & { id: string }>>
  /** Saves the profile with version = max(stored version, baseVersion) + 1; returns the stored row. */
  putAssistant (profile: AssistantProfile, baseVersion: number, now: number): Promise<StoredAssistant>
  /** Writes a tombstone with the next version. */
  deleteAssistant (id: string, baseVersion: number, now: number): Promise<StoredAssistant>

  // Idempotency keys, scoped per user
  /**
   * Claims (user, key). New → 'new' (the caller must complete or abandon it); same fingerprint and
   * completed → 'replay'; same fingerprint still running → 'in_progress'; another fingerprint → 'mismatch'.
   * An in-flight claim older than inFlightTtlMs counts as abandoned.
   */
  claimIdempotency (user: string, key: string, fingerprint: string, ttlMs: number, inFlightTtlMs: number): Promise<IdempotencyClaim>
  completeIdempotency (user: string, key: string, reply: StoredReply): Promise<void>
  abandonIdempotency (user: string, key: string): Promise<void>

  // Budgets and the usage ledger
  /** Reserves `tokens`/`audio_seconds` against every non-zero limit, or nothing if one does not fit. */
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
  budgetCounters (day: string, user: string, assistant?: string): Promise<BudgetCounters & { assistant_tokens: number, reserved_assistant_tokens: number }>
  /** Ledger rows of a day, optionally for one user. */
  usageLedger (day: string, user?: string): Promise<LedgerRow[]>
}
