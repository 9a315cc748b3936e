import { createHmac } from 'node:crypto'
import type OpenAI from 'openai'
import type { FastifyBaseLogger } from 'fastify'
import type { Config } from '../config.ts'
import { fromUpstream, invalidArgument, isGatewayError, notFound, quotaExceeded } from '../errors.ts'
import { isActiveRunStatus, type RunRecord, type Store, type ThreadRecord } from '../store/types.ts'
import { listPage, type ListPage, type ListQuery } from '../../schemas/common.ts'
import type { CreateThreadBody, Thread, UpdateThreadBody } from '../../schemas/threads.ts'
import { readPage } from '../lists.ts'
import type { ThreadAccess } from './access.ts'
import { checkMessageText, estimateTokens, messageFileIds, messageItem } from './items.ts'

/** What deleting a thread needs of its runs (the run service): ending one paused for its tool outputs. */
export interface PausedRuns {
  /** Cancels the run if it is still paused, and waits for it to end; null when it is not (any more) or is being resumed. */
  cancelPaused (runId: string): Promise<RunRecord | null>
}

export interface ThreadServiceDeps {
  openai: OpenAI
  store: Store
  access: ThreadAccess
  config: Config
  log: FastifyBaseLogger
  clock: () => number
  runs?: PausedRuns
}

const UPSTREAM_PAGE = 100
const DELETE_CONCURRENCY = 4

export function toThread (record: ThreadRecord): Thread {
  return { id: record.id, object: 'thread', created_at: record.created_at, title: record.title, metadata: record.metadata, tool_resources: null }
}

/** Tool resources belong to OpenAI-hosted tools the gateway does not offer: only "none" is accepted. */
function refuseToolResources (resources: object | null | undefined): void {
  if (resources && Object.keys(resources).length > 0) {
    throw invalidArgument('tool_resources', 'is not supported: attach files to messages instead')
  }
}

/**
 * Threads: upstream conversations indexed per owner in the store (OpenAI has no conversation list, and
 * ownership must be decided before any upstream call). Someone else's thread is "not found".
 */
export function createThreadService ({ openai, store, access, config, log, clock, runs }: ThreadServiceDeps) {
  const salt = config.OWNER_HASH_SALT ?? createHmac('sha256', config.OPENAI_API_KEY).update('assistant-gateway owner salt').digest('hex')
  const nowSeconds = () => Math.floor(clock() / 1000)

  /** Defence in depth: the upstream conversation records a salted hash of its owner, never the raw id. */
  const ownerHash = (userId: string) => createHmac('sha256', salt).update(userId).digest('hex').slice(0, 32)

  return {
    async create (userId: string, body: CreateThreadBody): Promise<Thread> {
      refuseToolResources(body.tool_resources)
      const messages = body.messages ?? []
      messages.forEach((m, i) => checkMessageText(m.content, `messages.${i}.content`))
      const cap = config.THREADS_MAX_PER_USER || undefined
      // Refused before an upstream conversation is made; the store's insert is what holds the cap under races.
      if (cap !== undefined && await store.countThreads(userId) >= cap) throw quotaExceeded('threads', cap)
      const files = await access.ownedFiles(userId, messages.flatMap(messageFileIds))
      const items = messages.map(m => messageItem(m, files))
      let conversation
      try {
        conversation = await openai.conversations.create({
          metadata: { gateway_owner: ownerHash(userId) },
          ...(items.length > 0 ? { items } : {})
        })
      } catch (err) {
        throw fromUpstream(err, 'Conversation')
      }
      const now = nowSeconds()
      const record: ThreadRecord = {
        id: conversation.id,
        owner: userId,
        title: body.title ?? null,
        metadata: body.metadata ?? {},
        created_at: now,
        updated_at: now,
        token_estimate: messages.reduce((n, m) => n + estimateTokens(m.content, messageFileIds(m).length), 0),
        // The first messages are all the first turn.
        turn_tokens: messages.reduce((n, m) => n + estimateTokens(m.content, messageFileIds(m).length), 0),
        revision: 0
      }
      if (!await store.createThread(record, cap)) {
        // A concurrent create took the last place: nobody could reach this conversation, so it goes.
        await openai.conversations.delete(conversation.id).catch(err => log.warn({ err, threadId: conversation.id }, 'could not delete the conversation of a thread over the cap'))
        throw quotaExceeded('threads', cap!)
      }
      if (messages.length > 0) {
        // Index the initial messages (in order: the conversation lists them as they were given) so they carry
        // the time the gateway saw them, their metadata and attachments.
        try {
          const page = await openai.conversations.items.list(conversation.id, { order: 'asc', limit: Math.min(UPSTREAM_PAGE, messages.length) })
          await store.putMessages(page.data.filter(i => i.type === 'message').map((item, i) => ({
            thread_id: conversation.id,
            item_id: item.id,
            created_at: now,
            run_id: null,
            attachments: (messages[i]?.attachments ?? []).map(a => ({ file_id: a.file_id, tools: a.tools ?? [] })),
            metadata: messages[i]?.metadata ?? null,
            assistant_id: null
          })))
        } catch (err) {
          log.warn({ err, threadId: conversation.id }, 'could not index initial messages; their created_at will be null')
        }
      }
      return toThread(record)
    },

    async list (userId: string, query: ListQuery): Promise<ListPage<Thread>> {
      return readPage(query, async forward => {
        const page = await store.listThreads(userId, forward)
        return listPage(page.data.map(toThread), page.hasMore)
      })
    },

    async get (userId: string, threadId: string): Promise<Thread> {
      return toThread(await access.ownedThread(userId, threadId))
    },

    async update (userId: string, threadId: string, body: UpdateThreadBody): Promise<Thread> {
      refuseToolResources(body.tool_resources)
      await access.ownedThread(userId, threadId)
      const updated = await store.updateThread(threadId, {
        ...(body.title !== undefined ? { title: body.title } : {}),
        ...(body.metadata !== undefined ? { metadata: body.metadata ?? {} } : {}),
        updated_at: nowSeconds()
      })
      if (!updated) throw notFound('Thread')
      return toThread(updated)
    },

    /**
     * Erases the thread: every upstream item (deleting a conversation leaves its items behind), then
     * the conversation, then the index. A failure part-way leaves the thread listed so a retry finishes it.
     * A run going on the thread refuses it (409 naming the run); one paused for its tool outputs has nothing
     * in flight upstream, and is cancelled first.
     */
    async delete (userId: string, threadId: string, holder: string) {
      await access.ownedThread(userId, threadId)
      const erase = async () => {
        try {
          const ids: string[] = []
          for await (const item of openai.conversations.items.list(threadId, { order: 'asc', limit: UPSTREAM_PAGE })) {
            if (item.id) ids.push(item.id)
          }
          for (let i = 0; i < ids.length; i += DELETE_CONCURRENCY) {
            await Promise.all(ids.slice(i, i + DELETE_CONCURRENCY).map(id => openai.conversations.items.delete(id, { conversation_id: threadId })))
          }
          await openai.conversations.delete(threadId)
        } catch (err) {
          const mapped = fromUpstream(err, 'Thread')
          // Already gone upstream: finish the local part.
          if (mapped.statusCode !== 404) throw mapped
        }
        await store.deleteThread(threadId)
      }
      try {
        await access.withThreadWrite(threadId, holder, 'delete', erase)
      } catch (err) {
        if (!runs || !isGatewayError(err) || err.code !== 'THREAD_BUSY') throw err
        const paused = await access.activeRun(threadId)
        if (paused?.status !== 'requires_action') throw err
        // Claimed before it is cancelled: a submit of its tool outputs at the same moment either resumes it
        // (and this is a 409 naming the run) or finds it cancelled, never both.
        const ended = await runs.cancelPaused(paused.id)
        if (ended === null || isActiveRunStatus(ended.status)) throw await access.busy(threadId, 'delete')
        await access.withThreadWrite(threadId, holder, 'delete', erase)
      }
      return { id: threadId, object: 'thread.deleted' as const, deleted: true as const }
    }
  }
}
export type ThreadService = ReturnType<typeof createThreadService>
