import { fieldNames, type Fields } from './fields.ts'
import type { Page, PageQuery } from './page.ts'
import type { AssistantTool, ContextPolicy, ResponseFormat } from '../../schemas/assistants.ts'
import type { RequiredAction, RunStatus, ToolChoice, TruncationStrategy } from '../../schemas/runs.ts'
import type { TokenUsage } from '../../schemas/usage.ts'

export type { RunStatus } from '../../schemas/runs.ts'

/**
 * Active runs hold their thread and count against their owner's runs in flight: those running, and
 * those paused in requires_action (a paused run holds no lease: it is parked until it expires).
 */
export const ACTIVE_RUN_STATUSES: readonly RunStatus[] = ['queued', 'in_progress', 'cancelling', 'requires_action']
export const isActiveRunStatus = (s: RunStatus) => ACTIVE_RUN_STATUSES.includes(s)
/** Runs a driver is working on (not paused, not ended): what waiters wait through. */
export const isRunningStatus = (s: RunStatus) => s !== 'requires_action' && isActiveRunStatus(s)

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
  usage: TokenUsage | null
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
  // The Assistants API's run settings (contract v2). Null on runs written before them where noted.
  /** Set by the caller (null: none, or a run from before contract v2). */
  metadata: Record<string, string> | null
  /** The functions the run could call, as the Assistants API shows them: a snapshot of its profile's at start. */
  tools: AssistantTool[] | null
  max_prompt_tokens: number | null
  truncation_strategy: TruncationStrategy | null
  response_format: ResponseFormat | null
  tool_choice: ToolChoice | null
  parallel_tool_calls: boolean | null
  additional_instructions: string | null
  // Client tools (requires_action) and run steps.
  /** The client's function calls the paused run waits for (status requires_action). */
  required_action: RequiredAction | null
  /** Unix seconds: a paused run not answered by then expires. */
  expires_at: number | null
  /** The run's steps so far (null on runs from before steps were kept). */
  steps: RunStepRecord[] | null
  /** The profile's context policy as the run applies it (truncation, compaction); null: none, the thread is read whole. */
  context_policy: ContextPolicy | null
  /**
   * W3C traceparent of the request that started the run, when tracing was on: every drive of the run, in
   * any process, continues that trace (services/telemetry/run-telemetry.ts).
   */
  trace_context: string | null
}

/** A run step as the run keeps it; the Assistants API's RunStep object is built from it (runs/views.ts). */
export interface RunStepRecord {
  id: string
  type: 'message_creation' | 'tool_calls'
  status: 'in_progress' | 'completed' | 'cancelled' | 'failed' | 'expired'
  /** Unix seconds. */
  created_at: number
  /** Unix seconds when the step reached its status, when it is not in progress. */
  ended_at: number | null
  /** message_creation: the message's item id. */
  message_id: string | null
  /** tool_calls: the calls, with their outputs once known (null: unknown, or not shown). */
  tool_calls: Array<{ id: string, name: string, arguments: string, output: string | null }>
  usage: { prompt_tokens: number, completion_tokens: number, total_tokens: number } | null
}

/**
 * Adding a field: the type above, this list, and (SQLite) a migration adding its column; the contract
 * suite's round-trip of a run with every field set fails until all three are there.
 */
export const RUN_FIELDS: Fields<RunRecord> = {
  id: 'raw',
  thread_id: 'raw',
  owner: 'raw',
  assistant_type: 'value',
  assistant_version: 'value',
  model: 'value',
  status: 'raw',
  created_at: 'value',
  started_at: 'value',
  completed_at: 'value',
  cancelled_at: 'value',
  failed_at: 'value',
  last_error: 'json',
  incomplete_details: 'json',
  usage: 'json',
  temperature: 'value',
  top_p: 'value',
  max_output_tokens: 'value',
  stream: 'bool',
  response_ids: 'json',
  settled_response_ids: 'json',
  tool_rounds: 'value',
  cancel_requested: 'bool',
  reservation_id: 'value',
  deadline_at: 'value',
  lease_owner: 'value',
  lease_expires_at: 'value',
  fence: 'value',
  pending_input: 'json',
  creating_since: 'value',
  metadata: 'json',
  tools: 'json',
  max_prompt_tokens: 'value',
  truncation_strategy: 'json',
  response_format: 'json',
  tool_choice: 'json',
  parallel_tool_calls: 'json',
  additional_instructions: 'value',
  required_action: 'json',
  expires_at: 'value',
  steps: 'json',
  context_policy: 'json',
  trace_context: 'value'
}

/**
 * Never changed by updateRun: identity belongs to createRun, the lease to claimRun, renewRun, releaseRun
 * and the terminal transition.
 */
const RUN_UNPATCHABLE_FIELDS: ReadonlySet<keyof RunRecord> = new Set(['id', 'thread_id', 'owner', 'lease_owner', 'lease_expires_at', 'fence'])
const RUN_PATCHABLE_FIELDS = fieldNames(RUN_FIELDS).filter(name => !RUN_UNPATCHABLE_FIELDS.has(name))

/** The part of a patch updateRun applies: the fields it may change that the patch gives (null is a value). */
export function runPatch (patch: Partial<RunRecord>): Partial<RunRecord> {
  const applied: Record<string, unknown> = {}
  for (const name of RUN_PATCHABLE_FIELDS) if (patch[name] !== undefined) applied[name] = patch[name]
  return applied as Partial<RunRecord>
}

export type CreateRunResult = { ok: true } | { ok: false, reason: 'thread_busy' | 'too_many_active' }

export interface RunStore {
  /**
   * Atomically: takes the thread's write lock for the run (holder = run id, ttl = threadLockTtlMs),
   * checks the owner has fewer than maxActivePerUser active runs, and inserts the run. Nothing is written
   * when either check fails.
   */
  createRun (run: RunRecord, opts: { maxActivePerUser: number, threadLockTtlMs: number }): Promise<CreateRunResult>
  getRun (id: string): Promise<RunRecord | null>
  listRuns (threadId: string, page: PageQuery): Promise<Page<RunRecord>>
  /** Runs that are active and whose lease has expired (their driver died): candidates for resumption. */
  listOrphanedRuns (limit: number): Promise<RunRecord[]>
  /** The owner's active runs (paused ones included), oldest first: what a suspension cancels. */
  listActiveRuns (owner: string): Promise<RunRecord[]>
  /** Claims the run's lease for `worker` if it is free, expired, or already the worker's; returns the new fence. */
  claimRun (id: string, worker: string, leaseMs: number): Promise<number | null>
  /** Extends the lease; false when another worker has claimed the run since (the fence moved). */
  renewRun (id: string, worker: string, fence: number, leaseMs: number): Promise<boolean>
  /**
   * Gives the lease up: at once (graceful shutdown: another worker resumes the run now), or parked until
   * `resumeAt` (Unix ms; a paused run, which needs no driver until it expires): it is not an orphan before.
   */
  releaseRun (id: string, worker: string, fence: number, resumeAt?: number): Promise<boolean>
  /**
   * Applies the patch only if `fence` is still current (null fence: unconditional, for flags such as
   * cancel_requested). When the patch makes the run terminal, the thread lock held by the run is
   * released and the lease cleared in the same operation. A finished run stays finished: a patch that
   * changes a terminal run's status is refused (null). Identity and lease fields are never patched.
   * Returns the updated run, or null.
   */
  updateRun (id: string, patch: Partial<RunRecord>, fence: number | null): Promise<RunRecord | null>
}
