import { createHmac } from 'node:crypto'
import { LRUCache } from 'lru-cache'
import type OpenAI from 'openai'
import type { FastifyBaseLogger } from 'fastify'
import type { ResponseInputItem } from 'openai/resources/responses/responses'
import type { Config } from './config.ts'
import type { FileRecord, Store, ThreadRecord } from './store/types.ts'
import { ThreadBusy, fromUpstream, notFound, withDetails } from './errors.ts'
import { listPage, type ListPage, type ListQuery } from '../schemas/common.ts'
import { messageFromItem } from './runs/views.ts'
import type { CreateMessageBody, CreateThreadBody, Message, MessageContent, Thread, UpdateThreadBody } from '../schemas/threads.ts'

export interface ThreadServiceDeps {
  openai: OpenAI
  store: Store
  config: Config
  log: FastifyBaseLogger
  clock: () => number
}

/** How long a message write may hold the thread (it only spans one upstream call). */
const WRITE_LOCK_MS = 30_000
const UPSTREAM_PAGE = 100
/** Upstream item pages scanned for one page of messages (tool items are skipped, not shown). */
const MAX_SCAN_PAGES = 10
const DELETE_CONCURRENCY = 4
/**
 * Safety net for the message cache: a write the gateway cannot see (an upstream response whose creation
 * was uncertain finishing late) shows up after at most this long.
 */
const MESSAGE_CACHE_TTL_MS = 30_000
const IMAGE_MIME = /^image\//

export function toThread (record: ThreadRecord): Thread {
  return { id: record.id, object: 'thread', created_at: record.created_at, title: record.title, metadata: record.metadata }
}

function textOf (content: MessageContent): string[] {
  return typeof content === 'string' ? [content] : content.map(part => part.text)
}

/**
 * Generous upper estimate of a message's tokens, counted in UTF-8 bytes so that every script is covered:
 * BPE tokens average ~4 bytes of English, ~5 of Cyrillic and ~3 of Chinese or Japanese, and one token
 * per two bytes is above all of them. An attachment is counted as one large image or PDF page.
 */
export function estimateTokens (content: MessageContent | string, attachments = 0): number {
  const bytes = textOf(content).reduce((n, text) => n + Buffer.byteLength(text, 'utf8'), 0)
  return Math.ceil(bytes / 2) + 16 + attachments * 1500
}

/** A user message item as the Conversations API takes it, with attachments as file parts. */
export function userMessageItem (content: MessageContent, files: FileRecord[] = []): ResponseInputItem {
  return {
    type: 'message',
    role: 'user',
    content: [
      ...textOf(content).map(text => ({ type: 'input_text' as const, text })),
      ...files.map(file => IMAGE_MIME.test(file.mime)
        ? { type: 'input_image' as const, file_id: file.id, detail: 'auto' as const }
        : { type: 'input_file' as const, file_id: file.id })
    ]
  }
}

/**
 * Threads (upstream conversations indexed per owner in the store) and their messages. Ownership is
 * always resolved from the store before any upstream call; someone else's thread is "not found".
 */
export function createThreadService ({ openai, store, config, log, clock }: ThreadServiceDeps) {
  const salt = config.OWNER_HASH_SALT ?? createHmac('sha256', config.OPENAI_API_KEY).update('assistant-gateway owner salt').digest('hex')
  const nowSeconds = () => Math.floor(clock() / 1000)
  // Every write to a conversation goes through the gateway and bumps the thread's revision, so a page
  // read at an unchanged revision is still right: served without calling upstream (BASELINES.md).
  // Least recently read out first within MESSAGE_CACHE_MB, a page over a quarter of it never kept; a page is
  // dropped on a timer once stale, so the pages of old revisions nobody reads again leave on time. Pages are
  // shared with every reader: never mutated.
  const cacheBytes = config.MESSAGE_CACHE_MB * 1024 * 1024
  const pages = cacheBytes > 0
    ? new LRUCache<string, ListPage<Message>>({ maxSize: cacheBytes, maxEntrySize: cacheBytes / 4, ttl: MESSAGE_CACHE_TTL_MS, ttlAutopurge: true, ttlResolution: 0, perf: { now: clock } })
    : null

  /** Defence in depth: the upstream conversation records a salted hash of its owner, never the raw id. */
  function ownerHash (userId: string): string {
    return createHmac('sha256', salt).update(userId).digest('hex').slice(0, 32)
  }

  async function ownedThread (userId: string, threadId: string): Promise<ThreadRecord> {
    const thread = await store.getThread(threadId)
    if (!thread || thread.owner !== userId) throw notFound('Thread')
    return thread
  }

  /** The caller's files for attachments: any id that is unknown or someone else's is 404. */
  async function ownedFiles (userId: string, fileIds: string[]): Promise<FileRecord[]> {
    const files: FileRecord[] = []
    for (const id of new Set(fileIds)) {
      const file = await store.getFile(id)
      if (!file || file.owner !== userId) throw notFound(`File ${id}`)
      files.push(file)
    }
    return files
  }

  /** Runs `write` while holding the thread's lock, which an active run also holds: busy → 409. */
  async function withThreadWrite<T> (threadId: string, holder: string, write: () => Promise<T>): Promise<T> {
    const fence = await store.lockThread(threadId, holder, WRITE_LOCK_MS)
    if (fence === null) throw withDetails(new ThreadBusy('A run is active on this thread; wait for it to finish'), { retryAfterSeconds: 2 })
    try {
      return await write()
    } finally {
      await store.unlockThread(threadId, holder)
    }
  }

  return {
    ownedThread,
    ownedFiles,
    /** Size of the message page cache, for metrics. */
    messageCache: { get bytes () { return pages?.calculatedSize ?? 0 }, get entries () { return pages?.size ?? 0 } },

    async create (userId: string, body: CreateThreadBody): Promise<Thread> {
      const messages = body.messages ?? []
      let conversation
      try {
        conversation = await openai.conversations.create({
          metadata: { gateway_owner: ownerHash(userId) },
          ...(messages.length > 0 ? { items: messages.map(m => userMessageItem(m.content)) } : {})
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
        token_estimate: messages.reduce((n, m) => n + estimateTokens(m.content), 0),
        revision: 0
      }
      await store.createThread(record)
      if (messages.length > 0) {
        // Index the initial messages so they carry the time the gateway saw them.
        try {
          const page = await openai.conversations.items.list(conversation.id, { order: 'asc', limit: Math.min(UPSTREAM_PAGE, messages.length) })
          await store.putMessages(page.data.filter(i => i.type === 'message').map(i => ({
            thread_id: conversation.id, item_id: i.id, created_at: now, run_id: null, attachments: []
          })))
        } catch (err) {
          log.warn({ err, threadId: conversation.id }, 'could not index initial messages; their created_at will be null')
        }
      }
      return toThread(record)
    },

    async list (userId: string, query: ListQuery): Promise<ListPage<Thread>> {
      const page = await store.listThreads(userId, query)
      return listPage(page.data.map(toThread), page.hasMore)
    },

    async get (userId: string, threadId: string): Promise<Thread> {
      return toThread(await ownedThread(userId, threadId))
    },

    async update (userId: string, threadId: string, body: UpdateThreadBody): Promise<Thread> {
      await ownedThread(userId, threadId)
      const updated = await store.updateThread(threadId, {
        ...(body.title !== undefined ? { title: body.title } : {}),
        ...(body.metadata !== undefined ? { metadata: body.metadata } : {}),
        updated_at: nowSeconds()
      })
      if (!updated) throw notFound('Thread')
      return toThread(updated)
    },

    /**
     * Erases the thread: every upstream item (deleting a conversation leaves its items behind), then
     * the conversation, then the index. A failure part-way leaves the thread listed so a retry finishes it.
     */
    async delete (userId: string, threadId: string, holder: string) {
      await ownedThread(userId, threadId)
      await withThreadWrite(threadId, holder, async () => {
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
      })
      return { id: threadId, object: 'thread.deleted' as const, deleted: true as const }
    },

    async addMessage (userId: string, threadId: string, body: CreateMessageBody, holder: string): Promise<Message> {
      const thread = await ownedThread(userId, threadId)
      const files = await ownedFiles(userId, (body.attachments ?? []).map(a => a.file_id))
      return withThreadWrite(threadId, holder, async () => {
        let created
        try {
          created = await openai.conversations.items.create(threadId, { items: [userMessageItem(body.content, files)] })
        } catch (err) {
          throw fromUpstream(err, 'Thread')
        }
        const createdAt = nowSeconds()
        const message = created.data[0] && messageFromItem(created.data[0], threadId, { created_at: createdAt, run_id: null })
        if (!message) throw fromUpstream(new Error('conversation item was not returned'))
        await store.putMessages([{ thread_id: threadId, item_id: message.id, created_at: createdAt, run_id: null, attachments: files.map(f => f.id) }])
        // Read again under the lock: a run that just ended may have reset the estimate.
        const current = await store.getThread(threadId) ?? thread
        await store.updateThread(threadId, { token_estimate: current.token_estimate + estimateTokens(body.content, files.length), updated_at: createdAt })
        return message
      })
    },

    /**
     * One page of messages, mapped onto the upstream's own cursor: upstream pages are scanned in the
     * requested order, non-message items skipped, until `limit` messages (plus one to know has_more).
     */
    async listMessages (userId: string, threadId: string, query: ListQuery): Promise<ListPage<Message>> {
      const thread = await ownedThread(userId, threadId)
      const key = `${threadId}\n${thread.revision}\n${query.order}\n${query.limit}\n${query.after ?? ''}`
      const cached = pages?.get(key)
      if (cached) return cached
      const found: Message[] = []
      let after = query.after
      let upstreamHasMore = true
      // The first upstream page is sized for the answer; what is read after it is mostly tool items between messages.
      let pageSize = Math.min(UPSTREAM_PAGE, query.limit + 1)
      try {
        for (let scanned = 0; scanned < MAX_SCAN_PAGES && found.length <= query.limit && upstreamHasMore; scanned++) {
          const page = await openai.conversations.items.list(threadId, {
            order: query.order,
            limit: pageSize,
            ...(after ? { after } : {})
          })
          for (const item of page.data) {
            const message = messageFromItem(item, threadId)
            if (message && found.length <= query.limit) found.push(message)
          }
          upstreamHasMore = page.has_more
          after = page.data.at(-1)?.id
          pageSize = UPSTREAM_PAGE
          if (!after) break
        }
      } catch (err) {
        throw fromUpstream(err, 'Thread')
      }
      const data = found.slice(0, query.limit)
      const seen = await store.getMessages(threadId, data.map(m => m.id))
      for (const message of data) {
        const record = seen.get(message.id)
        if (record) Object.assign(message, { created_at: record.created_at, run_id: record.run_id })
      }
      const page = listPage(data, found.length > query.limit || upstreamHasMore)
      // The scan stopped before the page filled and the thread goes on: the cursor is the last item read
      // (an upstream item id like any other), so the next page continues from there instead of re-reading.
      if (found.length <= query.limit && upstreamHasMore && after) page.last_id = after
      pages?.set(key, page, { size: data.reduce((n, m) => n + 256 + m.content.reduce((c, part) => c + part.text.value.length * 2, 0), 64) })
      return page
    }
  }
}
export type ThreadService = ReturnType<typeof createThreadService>
