import type { MessageRecord, MessageStore } from '../messages.ts'
import type { RedisContext } from './context.ts'

/** One hash per thread: item id → the rest of the record as JSON. */
export function redisMessages (ctx: RedisContext): MessageStore {
  const { client, keys } = ctx
  return {
    async putMessages (records) {
      if (records.length === 0) return
      const tx = client.multi()
      for (const { thread_id: threadId, item_id: itemId, ...rest } of records) tx.hset(keys.messages(threadId), itemId, JSON.stringify(rest))
      await ctx.call(() => tx.exec())
    },

    async getMessages (threadId, itemIds) {
      const found = new Map<string, MessageRecord>()
      if (itemIds.length === 0) return found
      const values = await ctx.call(() => client.hmget(keys.messages(threadId), ...itemIds))
      values.forEach((value, i) => {
        // Rows written before metadata and assistant_id existed lack them.
        if (value !== null) found.set(itemIds[i], { metadata: null, assistant_id: null, thread_id: threadId, item_id: itemIds[i], ...JSON.parse(value) })
      })
      return found
    },

    async deleteMessage (threadId, itemId) {
      return await ctx.call(() => client.hdel(keys.messages(threadId), itemId)) === 1
    }
  }
}
