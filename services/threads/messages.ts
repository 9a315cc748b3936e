import { LRUCache } from 'lru-cache'
import type OpenAI from 'openai'
import type { ResponseInputItem } from 'openai/resources/responses/responses'
import type { Config } from '../config.ts'
import { fromUpstream, notFound } from '../errors.ts'
import { isMessage, messageFromItem } from '../runs/views.ts'
import type { MessageRecord, Store, ThreadRecord } from '../store/types.ts'
import { readPage, type ForwardQuery } from '../lists.ts'
import { listPage, type ListPage, type ListQuery } from '../../schemas/common.ts'
import type { Message } from '../../schemas/threads.ts'
import type { ThreadAccess } from './access.ts'
import { checkMessageText, estimateTokens, messageFileIds, messageItem, type NewMessage } from './items.ts'

export interface PreparedMessages { messages: NewMessage[], items: ResponseInputItem[] }

export interface MessageServiceDeps {
  openai: OpenAI
  store: Store
  access: ThreadAccess
  config: Config
  clock: () => number
}

const UPSTREAM_PAGE = 100
/** Upstream item pages scanned for one page of messages (tool items are skipped, not shown). */
const MAX_SCAN_PAGES = 10
/**
 * Safety net for the message cache: a write the gateway cannot see (an upstream response whose creation
 * was uncertain finishing late) shows up after at most this long.
 */
const MESSAGE_CACHE_TTL_MS = 30_000

/**
 * The messages of a thread: its conversation's user and assistant message items, with what the
 * gateway's message index adds (when it saw them, which run wrote them, attachments, metadata).
 * Every write goes through here and bumps the thread's revision, which is what the page cache keys on.
 */
export function createMessageService ({ openai, store, access, config, clock }: MessageServiceDeps) {
  const nowSeconds = () => Math.floor(clock() / 1000)
  // A page read at an unchanged revision is still right: served without calling upstream (BASELINES.md).
  // Least recently read out first within MESSAGE_CACHE_MB, a page over a quarter of it never kept; a page is
  // dropped on a timer once stale, so the pages of old revisions nobody reads again leave on time. Pages are
  // shared with every reader: never mutated.
  const cacheBytes = config.MESSAGE_CACHE_MB * 1024 * 1024
  const pages = cacheBytes > 0
    ? new LRUCache<string, ListPage<Message>>({ maxSize: cacheBytes, maxEntrySize: cacheBytes / 4, ttl: MESSAGE_CACHE_TTL_MS, ttlAutopurge: true, ttlResolution: 0, perf: { now: clock } })
    : null

  /** The item if it is one of the thread's messages (a tool call item is not a message). */
  async function messageOf (threadId: string, messageId: string): Promise<Message> {
    let item
    try {
      item = await openai.conversations.items.retrieve(messageId, { conversation_id: threadId })
    } catch (err) {
      throw fromUpstream(err, 'Message')
    }
    const indexed = (await store.getMessages(threadId, [messageId])).get(messageId)
    const message = messageFromItem(item, threadId, indexed)
    if (!message) throw notFound('Message')
    return message
  }

  /** A write to the thread: the revision moves (cached pages go stale), and the estimate of what the next run reads. */
  async function touched (threadId: string, addedTokens = 0): Promise<void> {
    const current = await store.getThread(threadId)
    if (!current) return
    await store.updateThread(threadId, {
      token_estimate: current.token_estimate + addedTokens,
      turn_tokens: current.turn_tokens === null ? null : current.turn_tokens + addedTokens,
      updated_at: nowSeconds()
    })
  }

  /**
   * Messages checked and turned into conversation items: their text within bounds, the caller's own files,
   * files only on user messages. `field` is the request's list of them (null: the body is the one message).
   */
  async function prepare (userId: string, messages: NewMessage[], field: string | null = 'additional_messages'): Promise<PreparedMessages> {
    messages.forEach((m, i) => checkMessageText(m.content, field === null ? 'content' : `${field}.${i}.content`))
    const files = await access.ownedFiles(userId, messages.flatMap(messageFileIds))
    return { messages, items: messages.map(m => messageItem(m, files)) }
  }

  /**
   * Adds prepared messages to the conversation, in order, and indexes them. The caller holds the thread:
   * a write lock, or the lock of the run these messages start.
   */
  async function commit (threadId: string, { messages, items }: PreparedMessages): Promise<Message[]> {
    if (messages.length === 0) return []
    let created
    try {
      created = await openai.conversations.items.create(threadId, { items })
    } catch (err) {
      throw fromUpstream(err, 'Thread')
    }
    const createdAt = nowSeconds()
    const added = created.data.filter(isMessage)
    const records: MessageRecord[] = added.map((item, i) => ({
      thread_id: threadId,
      item_id: item.id,
      created_at: createdAt,
      run_id: null,
      attachments: (messages[i]?.attachments ?? []).map(a => ({ file_id: a.file_id, tools: a.tools ?? [] })),
      metadata: messages[i]?.metadata ?? null,
      assistant_id: null
    }))
    if (records.length !== messages.length) throw fromUpstream(new Error('conversation items were not returned'))
    await store.putMessages(records)
    await touched(threadId, messages.reduce((n, m) => n + estimateTokens(m.content, messageFileIds(m).length), 0))
    return added.map((item, i) => messageFromItem(item, threadId, records[i])!)
  }

  async function listForward (thread: ThreadRecord, query: ForwardQuery, runId?: string): Promise<ListPage<Message>> {
    const threadId = thread.id
    const key = `${threadId}\n${thread.revision}\n${query.order}\n${query.limit}\n${query.after ?? ''}\n${runId ?? ''}`
    const cached = pages?.get(key)
    if (cached) return cached
    const items = []
    const indexed = new Map<string, MessageRecord>()
    let found = 0
    let after = query.after
    let upstreamHasMore = true
    // The first upstream page is sized for the answer; what is read after it is mostly tool items between messages.
    let pageSize = Math.min(UPSTREAM_PAGE, query.limit + 1)
    try {
      for (let scanned = 0; scanned < MAX_SCAN_PAGES && found <= query.limit && upstreamHasMore; scanned++) {
        const page = await openai.conversations.items.list(threadId, {
          order: query.order,
          limit: pageSize,
          ...(after ? { after } : {})
        })
        const messages = page.data.filter(isMessage)
        // A run's messages are known by the index: read it for each page only when filtering by run.
        if (runId) for (const [id, record] of await store.getMessages(threadId, messages.map(m => m.id))) indexed.set(id, record)
        for (const item of messages) {
          if (found <= query.limit && (!runId || indexed.get(item.id)?.run_id === runId)) {
            items.push(item)
            found++
          }
        }
        upstreamHasMore = page.has_more
        after = page.data.at(-1)?.id
        pageSize = UPSTREAM_PAGE
        if (!after) break
      }
    } catch (err) {
      throw fromUpstream(err, 'Thread')
    }
    const shown = items.slice(0, query.limit)
    if (!runId) for (const [id, record] of await store.getMessages(threadId, shown.map(item => item.id))) indexed.set(id, record)
    const data = shown.map(item => messageFromItem(item, threadId, indexed.get(item.id))!)
    const page = listPage(data, found > query.limit || upstreamHasMore)
    // The scan stopped before the page filled and the thread goes on: the cursor is the last item read
    // (an upstream item id like any other), so the next page continues from there instead of re-reading.
    if (found <= query.limit && upstreamHasMore && after) page.last_id = after
    pages?.set(key, page, { size: data.reduce((n, m) => n + 256 + m.content.reduce((c, part) => c + part.text.value.length * 2, 0), 64) })
    return page
  }

  return {
    prepare,
    commit,

    async add (userId: string, threadId: string, message: NewMessage, holder: string): Promise<Message> {
      await access.ownedThread(userId, threadId)
      const prepared = await prepare(userId, [message], null)
      const [added] = await access.withThreadWrite(threadId, holder, 'add messages to', () => commit(threadId, prepared))
      return added!
    },

    async get (userId: string, threadId: string, messageId: string): Promise<Message> {
      await access.ownedThread(userId, threadId)
      return messageOf(threadId, messageId)
    },

    /** Replaces the message's metadata (the text of a message is what the conversation holds: it does not change). */
    async update (userId: string, threadId: string, messageId: string, metadata: Record<string, string> | null | undefined): Promise<Message> {
      await access.ownedThread(userId, threadId)
      const message = await messageOf(threadId, messageId)
      if (metadata === undefined) return message
      const indexed = (await store.getMessages(threadId, [messageId])).get(messageId)
      const record: MessageRecord = indexed
        ? { ...indexed, metadata }
        : { thread_id: threadId, item_id: messageId, created_at: message.created_at ?? nowSeconds(), run_id: message.run_id, attachments: message.attachments, metadata, assistant_id: message.assistant_id }
      await store.putMessages([record])
      await touched(threadId)
      return { ...message, metadata: metadata ?? {} }
    },

    /** Deletes the message upstream and from the index; not while a run is active on the thread. */
    async delete (userId: string, threadId: string, messageId: string, holder: string) {
      await access.ownedThread(userId, threadId)
      await access.withThreadWrite(threadId, holder, 'delete messages of', async () => {
        await messageOf(threadId, messageId)
        try {
          await openai.conversations.items.delete(messageId, { conversation_id: threadId })
        } catch (err) {
          const mapped = fromUpstream(err, 'Message')
          if (mapped.statusCode !== 404) throw mapped
        }
        await store.deleteMessage(threadId, messageId)
        await touched(threadId)
      })
      return { id: messageId, object: 'thread.message.deleted' as const, deleted: true as const }
    },

    /**
     * One page of messages, mapped onto the upstream's own cursor: upstream pages are scanned in the
     * requested order, non-message items skipped (and, with `runId`, messages other runs wrote), until
     * `limit` messages (plus one to know has_more). `before` reads backwards (services/lists.ts).
     */
    async list (userId: string, threadId: string, query: ListQuery, runId?: string): Promise<ListPage<Message>> {
      const thread = await access.ownedThread(userId, threadId)
      return readPage(query, forward => listForward(thread, forward, runId))
    },

    /** Size of the message page cache, for metrics. */
    cache: { get bytes () { return pages?.calculatedSize ?? 0 }, get entries () { return pages?.size ?? 0 } }
  }
}
export type MessageService = ReturnType<typeof createMessageService>
