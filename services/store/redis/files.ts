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
  const { homes } = ctx
  const files = orderedRecords(ctx, 'file', FILE_FIELDS, 'file', 'owner', 'files', {
    ofRecord: id => homes.find('file', id),
    ofScope: async owner => homes.owner(owner),
    forCreate: record => homes.claimAs('file', record.id, homes.owner(record.owner))
  })
  return {
    createFile: files.create,
    countFiles: files.count,
    getFile: files.get,
    listFiles: files.page,

    async deleteFile (id) {
      const home = await homes.find('file', id)
      if (home !== null) await ctx.script(deleteFile, home, [ctx.keysAt(home).file(id)], [id])
    }
  }
}
