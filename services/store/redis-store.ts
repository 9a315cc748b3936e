import type { Redis } from 'ioredis'
import { storeUnavailable } from '../errors.ts'
import { START_WAIT_MS, closeRedis, createRedisClient, waitForRedis, type RedisLogger } from '../redis.ts'
import { REDIS_SCRIPTS, type ScriptName } from './redis-scripts.ts'
import {
  isActiveRunStatus,
  type AssistantProfile,
  type FileRecord,
  type IdempotencyClaim,
  type LedgerRow,
  type MessageRecord,
  type Page,
  type PageQuery,
  type RunRecord,
  type Store,
  type StoredAssistant,
  type StoredReply,
  type ThreadRecord,
  type UsageAmounts
} from './types.ts'

export interface RedisStoreOptions {
  /** redis:// or rediss:// URL (database index in the path). */
  url: string
  /** Unix ms; injected by tests. Every expiry is decided on this clock, never Redis TIME. */
  clock?: () => number
  /** Namespace of every key, so several gateways (or tests) can share one Redis. */
  keyPrefix?: string
  log?: RedisLogger
  /** How long start-up waits for Redis to answer. */
  connectWaitMs?: number
}

type FieldKind = 'raw' | 'json'
type Fields<T> = ReadonlyArray<readonly [keyof T & string, FieldKind]>

// Raw fields are the ones the scripts compare or build keys from; everything else is JSON text.
const THREAD_FIELDS: Fields<ThreadRecord> = [
  ['id', 'raw'], ['owner', 'raw'], ['title', 'json'], ['metadata', 'json'], ['created_at', 'json'],
  ['updated_at', 'json'], ['token_estimate', 'json'], ['revision', 'json']
]
const FILE_FIELDS: Fields<FileRecord> = [
  ['id', 'raw'], ['owner', 'raw'], ['filename', 'json'], ['bytes', 'json'], ['purpose', 'json'], ['mime', 'json'], ['created_at', 'json']
]
const RUN_FIELDS: Fields<RunRecord> = [
  ['id', 'raw'], ['thread_id', 'raw'], ['owner', 'raw'], ['assistant_type', 'json'], ['assistant_version', 'json'],
  ['model', 'json'], ['status', 'raw'], ['created_at', 'json'], ['started_at', 'json'], ['completed_at', 'json'],
  ['cancelled_at', 'json'], ['failed_at', 'json'], ['last_error', 'json'], ['incomplete_details', 'json'], ['usage', 'json'],
  ['temperature', 'json'], ['top_p', 'json'], ['max_output_tokens', 'json'], ['stream', 'json'], ['response_ids', 'json'],
  ['settled_response_ids', 'json'], ['tool_rounds', 'json'], ['cancel_requested', 'json'], ['reservation_id', 'json'],
  ['deadline_at', 'json'], ['lease_owner', 'json'], ['lease_expires_at', 'json'], ['fence', 'json'], ['pending_input', 'json'],
  ['creating_since', 'json']
]
// Patches never change identity or the lease: those belong to createRun, claimRun/renewRun/releaseRun and the terminal transition.
const RUN_FIXED_FIELDS = new Set<string>(['id', 'thread_id', 'owner', 'lease_owner', 'lease_expires_at', 'fence'])
const THREAD_PATCHABLE = new Set<string>(['title', 'metadata', 'updated_at', 'token_estimate'])

const USAGE_FIELDS: ReadonlyArray<keyof UsageAmounts> = [
  'input_tokens', 'cached_tokens', 'output_tokens', 'reasoning_tokens', 'total_tokens', 'audio_seconds', 'runs', 'cost_usd'
]

/**
 * Redis keeps lock and idempotency keys this much longer than their deadline on the store's clock: the
 * deadline itself is always checked in the script, the TTL only collects garbage, so it must never fire
 * first (clock skew between instances, a fake clock in tests).
 */
const EXPIRY_SLACK_MS = 60_000
/** A usage id only has to be remembered while a crashed run can still be resumed (RUN_MAX_DURATION_MS ≤ 1 day). */
const USAGE_ID_TTL_MS = 8 * 86_400_000
/** Budget counters only matter on their day (the ledger is the durable record). */
const COUNTER_TTL_MS = 40 * 86_400_000
const EXPIRED_BATCH = 500
const UNAVAILABLE_REPLY = /^(LOADING|BUSY|READONLY|MASTERDOWN|TRYAGAIN|CLUSTERDOWN|NOREPLICAS|MISCONF|OOM)\b/

/** Every key the store writes, by what it holds. Each type ends in ':' before its one variable part. */
export function redisKeys (prefix: string) {
  return {
    thread: (id: string) => `${prefix}thread:${id}`,
    threads: (owner: string) => `${prefix}threads:${owner}`,
    messages: (threadId: string) => `${prefix}messages:${threadId}`,
    file: (id: string) => `${prefix}file:${id}`,
    files: (owner: string) => `${prefix}files:${owner}`,
    lock: (key: string) => `${prefix}lock:${key}`,
    run: (id: string) => `${prefix}run:${id}`,
    runs: (threadId: string) => `${prefix}runs:${threadId}`,
    active: (owner: string) => `${prefix}active:${owner}`,
    assistants: `${prefix}assistants`,
    assistantVersions: `${prefix}assistant-versions`,
    // Two variable parts: the first is length-prefixed so ('a:b', 'c') and ('a', 'b:c') differ.
    idempotency: (user: string, key: string) => `${prefix}idem:${Buffer.byteLength(user)}:${user}:${key}`,
    budget: (day: string) => `${prefix}budget:${day}`
  }
}

function encode<T> (record: Partial<T>, fields: Fields<T>): string[] {
  const out: string[] = []
  for (const [name, kind] of fields) {
    const value = record[name]
    if (value === undefined) continue
    out.push(name, kind === 'raw' ? String(value) : JSON.stringify(value))
  }
  return out
}

function decode<T> (flat: unknown, fields: Fields<T>): T | null {
  if (!Array.isArray(flat) || flat.length === 0) return null
  const stored = new Map<string, string>()
  for (let i = 0; i < flat.length; i += 2) stored.set(String(flat[i]), String(flat[i + 1]))
  const record: Record<string, unknown> = {}
  for (const [name, kind] of fields) {
    const value = stored.get(name)
    record[name] = value === undefined ? null : kind === 'raw' ? value : JSON.parse(value)
  }
  return record as T
}

function assertAmount (name: string, value: number) {
  if (!Number.isFinite(value) || value < 0) throw new RangeError(`${name} must be a finite number >= 0, got ${value}`)
}

function assertLimit (limit: number) {
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`page limit must be a positive integer, got ${limit}`)
}

const usageArgs = (usage: LedgerRow) => [
  usage.day, usage.user, usage.assistant, JSON.stringify([usage.assistant, usage.model]),
  ...USAGE_FIELDS.map(field => String(usage[field])), COUNTER_TTL_MS
]

/**
 * The shared store for several gateway instances: one Redis (persisted with AOF), every atomic
 * operation a Lua script (redis-scripts.ts), times from the injected clock. Connection trouble never
 * hangs a caller: the client fails fast (services/redis.ts) and such failures surface as
 * StoreUnavailable (503 SERVICE_UNAVAILABLE with Retry-After); Redis's own refusals while it loads or
 * fails over do too. Resolves once Redis answers.
 */
export async function createRedisStore (options: RedisStoreOptions): Promise<Store> {
  const { url, clock = Date.now, keyPrefix = 'agw:', log, connectWaitMs = START_WAIT_MS } = options
  const client = createRedisClient(url, { connectionName: 'agw-store', log })
  await waitForRedis(client, url, connectWaitMs)
  return redisStore(client, keyPrefix, clock)
}

function redisStore (client: Redis, prefix: string, clock: () => number): Store {
  const keys = redisKeys(prefix)
  let closed = false

  /** Every Redis call goes through here: connection failures become StoreUnavailable. */
  async function call<T> (fn: () => Promise<T>): Promise<T> {
    if (closed) throw new Error('The Redis store is closed')
    try {
      return await fn()
    } catch (err) {
      const error = err as Error
      if (error.name === 'ReplyError') {
        const duplicate = /^AGW_DUPLICATE (\w+) (.*)$/.exec(error.message)
        if (duplicate) throw new Error(`A ${duplicate[1]} with id ${duplicate[2]} already exists`)
        if (UNAVAILABLE_REPLY.test(error.message)) throw storeUnavailable(err)
        throw err
      }
      throw storeUnavailable(err)
    }
  }

  /** EVALSHA, loading the script on a cache miss (a restarted Redis has forgotten every script). */
  function script (name: ScriptName, keyNames: string[], args: Array<string | number>): Promise<unknown> {
    const { lua, sha } = REDIS_SCRIPTS[name]
    return call(async () => {
      try {
        return await client.evalsha(sha, keyNames.length, ...keyNames, prefix, ...args)
      } catch (err) {
        if ((err as Error).name !== 'ReplyError' || !(err as Error).message.startsWith('NOSCRIPT')) throw err
        return await client.eval(lua, keyNames.length, ...keyNames, prefix, ...args)
      }
    })
  }

  async function page<T> (index: string, recordPrefix: string, scopeField: string, scope: string, query: PageQuery, fields: Fields<T>): Promise<Page<T>> {
    assertLimit(query.limit)
    const [hasMore, ...rows] = await script('page', [index], [recordPrefix, scopeField, scope, query.limit, query.order, query.after ?? '']) as unknown[]
    return { data: rows.map(row => decode(row, fields) as T), hasMore: hasMore === 1 }
  }

  const runOf = (flat: unknown) => decode(flat, RUN_FIELDS)

  const writeAssistant = async (id: string, profile: AssistantProfile | null, baseVersion: number, now: number): Promise<StoredAssistant> =>
    JSON.parse(await script('putAssistant', [keys.assistants, keys.assistantVersions],
      [id, JSON.stringify(profile), baseVersion, JSON.stringify(now)]) as string)

  async function releaseExpired (): Promise<number> {
    let total = 0
    for (;;) {
      const released = await script('releaseExpired', [], [clock(), EXPIRED_BATCH]) as number
      total += released
      if (released < EXPIRED_BATCH) return total
    }
  }

  return {
    kind: 'redis',

    async ping () {
      await call(() => client.ping())
    },

    async close () {
      if (closed) return
      closed = true
      await closeRedis(client)
    },

    // Threads

    async createThread (thread) {
      await script('createRecord', [keys.thread(thread.id), keys.threads(thread.owner)],
        ['thread', thread.created_at, thread.id, ...encode(thread, THREAD_FIELDS)])
    },

    async getThread (id) {
      return decode(await call(() => client.hgetall(keys.thread(id)).then(flatten)), THREAD_FIELDS)
    },

    async listThreads (owner, query) {
      return page(keys.threads(owner), keys.thread(''), 'owner', owner, query, THREAD_FIELDS)
    },

    async updateThread (id, patch) {
      const allowed = Object.fromEntries(Object.entries(patch).filter(([name, value]) => THREAD_PATCHABLE.has(name) && value !== undefined))
      return decode(await script('updateThread', [keys.thread(id)], encode(allowed as Partial<ThreadRecord>, THREAD_FIELDS)), THREAD_FIELDS)
    },

    async deleteThread (id) {
      await script('deleteThread', [keys.thread(id), keys.messages(id), keys.runs(id)], [id])
    },

    // Message index

    async putMessages (records) {
      if (records.length === 0) return
      const tx = client.multi()
      for (const m of records) {
        tx.hset(keys.messages(m.thread_id), m.item_id, JSON.stringify({ created_at: m.created_at, run_id: m.run_id, attachments: m.attachments }))
      }
      await call(() => tx.exec())
    },

    async getMessages (threadId, itemIds) {
      const found = new Map<string, MessageRecord>()
      if (itemIds.length === 0) return found
      const values = await call(() => client.hmget(keys.messages(threadId), ...itemIds))
      values.forEach((value, i) => {
        if (value === null) return
        const stored = JSON.parse(value) as Omit<MessageRecord, 'thread_id' | 'item_id'>
        found.set(itemIds[i], { thread_id: threadId, item_id: itemIds[i], ...stored })
      })
      return found
    },

    // Files

    async createFile (file) {
      await script('createRecord', [keys.file(file.id), keys.files(file.owner)], ['file', file.created_at, file.id, ...encode(file, FILE_FIELDS)])
    },

    async getFile (id) {
      return decode(await call(() => client.hgetall(keys.file(id)).then(flatten)), FILE_FIELDS)
    },

    async listFiles (owner, query) {
      return page(keys.files(owner), keys.file(''), 'owner', owner, query, FILE_FIELDS)
    },

    async deleteFile (id) {
      await script('deleteFile', [keys.file(id)], [id])
    },

    // Locks

    async acquireLock (key, holder, ttlMs) {
      return await script('acquireLock', [keys.lock(key)], [clock(), holder, ttlMs, EXPIRY_SLACK_MS]) as number | null
    },

    async renewLock (key, holder, ttlMs) {
      return await script('renewLock', [keys.lock(key)], [clock(), holder, ttlMs, EXPIRY_SLACK_MS]) === 1
    },

    async releaseLock (key, holder) {
      return await script('releaseLock', [keys.lock(key)], [clock(), holder]) === 1
    },

    // Runs

    async createRun (run, opts) {
      const result = await script('createRun',
        [keys.run(run.id), keys.lock(`thread:${run.thread_id}`), keys.active(run.owner), keys.runs(run.thread_id)],
        [clock(), run.id, opts.maxActivePerUser, opts.threadLockTtlMs, EXPIRY_SLACK_MS, run.created_at,
          isActiveRunStatus(run.status) ? '1' : '0', ...encode(run, RUN_FIELDS)])
      if (result === 'ok') return { ok: true }
      return { ok: false, reason: result as 'thread_busy' | 'too_many_active' }
    },

    async getRun (id) {
      return runOf(await call(() => client.hgetall(keys.run(id)).then(flatten)))
    },

    async listRuns (threadId, query) {
      return page(keys.runs(threadId), keys.run(''), 'thread_id', threadId, query, RUN_FIELDS)
    },

    async listOrphanedRuns (limit) {
      const rows = await script('orphanedRuns', [], [clock(), limit]) as unknown[]
      return rows.map(row => runOf(row) as RunRecord)
    },

    async claimRun (id, worker, leaseMs) {
      return await script('claimRun', [keys.run(id)], [clock(), JSON.stringify(worker), leaseMs]) as number | null
    },

    async renewRun (id, worker, fence, leaseMs) {
      return await script('leaseRun', [keys.run(id)], [clock(), JSON.stringify(worker), fence, leaseMs]) === 1
    },

    async releaseRun (id, worker, fence) {
      return await script('leaseRun', [keys.run(id)], [clock(), JSON.stringify(worker), fence, '']) === 1
    },

    async updateRun (id, patch, fence) {
      const allowed: Partial<RunRecord> = {}
      for (const [name, value] of Object.entries(patch)) {
        if (!RUN_FIXED_FIELDS.has(name) && value !== undefined) (allowed as Record<string, unknown>)[name] = value
      }
      return runOf(await script('updateRun', [keys.run(id)],
        [clock(), fence === null ? '' : fence, allowed.status ?? '', ...encode(allowed, RUN_FIELDS)]))
    },

    // Assistants

    async getAssistant (id) {
      const stored = await call(() => client.hget(keys.assistants, id))
      return stored === null ? null : JSON.parse(stored) as StoredAssistant
    },

    async listAssistants () {
      const all = await call(() => client.hgetall(keys.assistants))
      return Object.keys(all).sort().map(id => ({ id, ...JSON.parse(all[id]) as StoredAssistant }))
    },

    async putAssistant (profile, baseVersion, now) {
      return writeAssistant(profile.id, profile, baseVersion, now)
    },

    async deleteAssistant (id, baseVersion, now) {
      return writeAssistant(id, null, baseVersion, now)
    },

    // Idempotency

    async claimIdempotency (user, key, fingerprint, ttlMs, inFlightTtlMs): Promise<IdempotencyClaim> {
      const [state, reply] = await script('claimIdempotency', [keys.idempotency(user, key)],
        [clock(), fingerprint, ttlMs, inFlightTtlMs, EXPIRY_SLACK_MS]) as [string, string | undefined]
      if (state === 'replay') return { state, reply: JSON.parse(reply as string) as StoredReply }
      return { state } as IdempotencyClaim
    },

    async completeIdempotency (user, key, reply) {
      await script('completeIdempotency', [keys.idempotency(user, key)], [clock(), JSON.stringify(reply)])
    },

    async abandonIdempotency (user, key) {
      await script('abandonIdempotency', [keys.idempotency(user, key)], [])
    },

    // Budgets and the usage ledger

    async reserveBudget (reservation, limits) {
      assertAmount('reservation.tokens', reservation.tokens)
      assertAmount('reservation.audio_seconds', reservation.audio_seconds)
      const result = await script('reserveBudget', [], [
        reservation.id, reservation.day, reservation.user, reservation.assistant, String(reservation.tokens),
        String(reservation.audio_seconds), reservation.expires_at,
        limits.userTokens, limits.userAudioSeconds, limits.assistantTokens, limits.globalTokens, COUNTER_TTL_MS
      ])
      if (result === 'ok') return { ok: true }
      return { ok: false, scope: result === 'user_audio' ? 'user_audio' : result as 'user_tokens' | 'global_tokens' | 'assistant_tokens' }
    },

    async settleBudget (reservationId, usage) {
      for (const field of USAGE_FIELDS) assertAmount(`usage.${field}`, usage[field])
      return await script('settleBudget', [], [reservationId, USAGE_ID_TTL_MS, ...usageArgs(usage)]) === 1
    },

    async recordUsage (usageId, usage) {
      for (const field of USAGE_FIELDS) assertAmount(`usage.${field}`, usage[field])
      return await script('recordUsage', [], [usageId, USAGE_ID_TTL_MS, ...usageArgs(usage)]) === 1
    },

    async releaseBudget (reservationId) {
      return await script('releaseBudget', [], [reservationId]) === 1
    },

    releaseExpiredReservations: releaseExpired,

    async budgetCounters (day, user, assistant) {
      const fields = [
        `user_tokens:used:${user}`, 'global_tokens:used:', `user_audio:used:${user}`,
        `user_tokens:reserved:${user}`, 'global_tokens:reserved:', `user_audio:reserved:${user}`,
        ...(assistant === undefined ? [] : [`assistant_tokens:used:${assistant}`, `assistant_tokens:reserved:${assistant}`])
      ]
      const v = (await call(() => client.hmget(keys.budget(day), ...fields))).map(value => value === null ? 0 : Number(value))
      return {
        user_tokens: v[0],
        global_tokens: v[1],
        user_audio_seconds: v[2],
        reserved_user_tokens: v[3],
        reserved_global_tokens: v[4],
        reserved_user_audio_seconds: v[5],
        assistant_tokens: v[6] ?? 0,
        reserved_assistant_tokens: v[7] ?? 0
      }
    },

    async usageLedger (day, user) {
      const flat = await script('usageLedger', [], [day, user ?? '', user === undefined ? '1' : '0']) as unknown[]
      const rows: LedgerRow[] = []
      for (let i = 0; i < flat.length; i += 2) {
        const byRow = new Map<string, Record<string, unknown>>()
        const fields = flat[i + 1] as string[]
        for (let j = 0; j < fields.length; j += 2) {
          const split = fields[j].lastIndexOf('|')
          const rowKey = fields[j].slice(0, split)
          let row = byRow.get(rowKey)
          if (!row) {
            const [assistant, model] = JSON.parse(rowKey) as [string, string]
            row = { day, user: flat[i] as string, assistant, model }
            byRow.set(rowKey, row)
          }
          row[fields[j].slice(split + 1)] = Number(fields[j + 1])
        }
        rows.push(...[...byRow.values()] as unknown as LedgerRow[])
      }
      const key = (r: LedgerRow) => [r.user, r.assistant, r.model]
      return rows.sort((a, b) => compareTuples(key(a), key(b)))
    }
  }
}

/** HGETALL as ioredis returns it (an object) back to the flat [field, value, …] the decoder reads. */
function flatten (hash: Record<string, string>): string[] {
  return Object.entries(hash).flat()
}

function compareTuples (a: string[], b: string[]): number {
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1
  }
  return 0
}
