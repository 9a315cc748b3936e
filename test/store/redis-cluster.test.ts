import t from 'tap'
import { randomBytes } from 'node:crypto'
import { Cluster, Redis } from 'ioredis'
import { createRedisStore } from '../../services/store/redis-store.ts'
import type { RedisTarget } from '../../services/redis.ts'
import { parseHostPorts } from '../../services/redis.ts'
import { redisOrSkip } from '../helpers/redis.ts'
import { startCluster } from '../helpers/redis-topologies.ts'
import { storeContract } from './contract.ts'
import { makeRun, OPTS, thread } from './contract/fixtures.ts'

/** Deletes every key under the prefix, on every primary. */
async function dropPrefix (nodes: string, prefix: string): Promise<void> {
  for (const { host, port } of parseHostPorts(nodes)) {
    const node = new Redis({ host, port, lazyConnect: true })
    await node.connect()
    if ((await node.info('replication')).includes('role:master')) {
      let cursor = '0'
      do {
        const [next, found] = await node.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
        cursor = next
        for (const key of found) await node.del(key)
      } while (cursor !== '0')
    }
    await node.quit()
  }
}

if (redisOrSkip(t)) {
  const cluster = await startCluster(t)
  const target: RedisTarget = { kind: 'cluster', nodes: parseHostPorts(cluster.nodes) }

  // The same contract as one Redis, unchanged: every script runs in its home's slot (Redis refuses any
  // other key, homes.ts), and the races run across two clients as across two instances.
  await storeContract(t, 'redis cluster', async ({ clock, log }) => {
    const keyPrefix = `agw-test-${randomBytes(6).toString('hex')}:`
    return {
      store: await createRedisStore({ url: target, clock, keyPrefix, log }),
      reopen: async () => createRedisStore({ url: target, clock, keyPrefix, log }),
      cleanup: async () => dropPrefix(cluster.nodes, keyPrefix)
    }
  })

  t.test('a user\'s threads, runs and locks share one slot; users and the fixed homes spread over the primaries', async t => {
    const keyPrefix = `agw-slots-${randomBytes(4).toString('hex')}:`
    const store = await createRedisStore({ url: target, keyPrefix })
    const admin = new Cluster(target.kind === 'cluster' ? target.nodes : [])
    t.teardown(async () => {
      await store.close()
      admin.disconnect()
      await dropPrefix(cluster.nodes, keyPrefix)
    })
    const users = Array.from({ length: 12 }, (_, i) => `user-${i}`)
    for (const user of users) {
      await store.createThread(thread(`th-${user}`, user, 1))
      t.same(await store.createRun(makeRun(`run-${user}`, `th-${user}`, user), OPTS), { ok: true })
    }
    const slotsOf = async (pattern: string) => {
      const keys: string[] = []
      for (const node of admin.nodes('master')) keys.push(...await node.keys(`${keyPrefix}${pattern}`))
      return Promise.all(keys.map(async key => ({ key, slot: await admin.cluster('KEYSLOT', key) as number })))
    }
    await admin.ping()
    const perUser = await Promise.all(users.map(async user => {
      const keys = (await slotsOf('{u*')).filter(k => k.key.endsWith(`:${user}`) || k.key.endsWith(`-${user}`))
      return new Set(keys.map(k => k.slot))
    }))
    t.ok(perUser.every(slots => slots.size === 1), 'every key of a user is in one slot')
    const primaries = new Set<string>()
    for (const node of admin.nodes('master')) {
      if ((await node.keys(`${keyPrefix}{u*`)).length > 0) primaries.add(`${node.options.port}`)
    }
    t.equal(primaries.size, 3, 'twelve users are spread over all three primaries')
    const pointers = await slotsOf('home:*')
    t.equal(pointers.length, 24, 'a pointer to the home of every thread and run')
  })
}
