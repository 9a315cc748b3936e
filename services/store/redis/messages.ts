import type { MessageRecord, MessageStore } from '../messages.ts'
import type { RedisContext } from './context.ts'

/** One hash per thread: item id → the rest of the record as JSON. */
export function redisMessages (ctx: RedisContext): MessageStore {
  const { client, homes } = ctx
  /** A thread's home, claimed for a thread nobody created (the contract writes such indexes). */
  const homeOf = async (threadId: string) => await homes.find('thread', threadId) ?? await homes.claim('thread', threadId, homes.threadOnly(threadId))
  return {
    async putMessages (records) {
      if (records.length === 0) return
      // One MULTI per home: a cluster runs a transaction in one slot only.
      const byHome = new Map<string, typeof records>()
      for (const record of records) {
        const home = await homeOf(record.thread_id)
        byHome.set(home, [...byHome.get(home) ?? [], record])
      }
      await Promise.all([...byHome].map(([home, some]) => {
        const tx = client.multi()
        for (const { thread_id: threadId, item_id: itemId, ...rest } of some) tx.hset(ctx.keysAt(home).messages(threadId), itemId, JSON.stringify(rest))
        return ctx.call(() => tx.exec())
      }))
    },

    async getMessages (threadId, itemIds) {
      const found = new Map<string, MessageRecord>()
      if (itemIds.length === 0) return found
      const home = await homes.find('thread', threadId)
      if (home === null) return found
      const values = await ctx.call(() => client.hmget(ctx.keysAt(home).messages(threadId), ...itemIds))
      values.forEach((value, i) => {
        // Rows written before metadata and assistant_id existed lack them.
        if (value !== null) found.set(itemIds[i], { metadata: null, assistant_id: null, thread_id: threadId, item_id: itemIds[i], ...JSON.parse(value) })
      })
      return found
    },

    async deleteMessage (threadId, itemId) {
      const home = await homes.find('thread', threadId)
      if (home === null) return false
      return await ctx.call(() => client.hdel(ctx.keysAt(home).messages(threadId), itemId)) === 1
    }
  }
}
