import { FILE_FIELDS, type FileStore } from '../files.ts'
import type { RedisContext } from './context.ts'
import { luaScript } from './lua.ts'
import { orderedRecords } from './ordered.ts'

/** KEYS: file. ARGV: prefix, file id. */
const deleteFile = luaScript('deleteFile', 1, `
local file = redis.call('HMGET', KEYS[1], 'owner', '_seq')
if not file[1] then return 0 end
redis.call('ZREM', K.files .. file[1], member(file[2], ARGV[2]))
redis.call('DEL', KEYS[1])
return 1`)

export function redisFiles (ctx: RedisContext): FileStore {
  const files = orderedRecords(ctx, 'file', FILE_FIELDS, ctx.keys.file, 'owner', ctx.keys.files)
  return {
    createFile: files.create,
    countFiles: files.count,
    getFile: files.get,
    listFiles: files.page,

    async deleteFile (id) {
      await ctx.script(deleteFile, [ctx.keys.file(id)], [id])
    }
  }
}
