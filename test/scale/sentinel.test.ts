import t from 'tap'
import { Redis } from 'ioredis'
import { closeRedis, createRedisClient, parseHostPorts, waitForRedis, type RedisTarget } from '../../services/redis.ts'
import { startSim, testEnv } from '../helpers/build.ts'
import { startGatewayProcess } from '../helpers/process.ts'
import { sentinelOrSkip, startSentinels } from '../helpers/redis-topologies.ts'
import { until } from '../helpers/until.ts'
import { failoverSettings, killOnceReplicated, primaryFailover } from './failover.ts'

if (sentinelOrSkip(t)) {
  const redis = await startSentinels(t)
  const target: RedisTarget = { kind: 'sentinel', sentinels: parseHostPorts(redis.sentinels), name: redis.name }

  t.test('a client whose reconnection is cut while it asks the sentinels connects again (ioredis would end it for good)', async t => {
    const client = createRedisClient(target) as Redis
    t.teardown(() => closeRedis(client))
    await waitForRedis(client, target)
    // The race a failover can hit: the failover detector drops the connection (connector.disconnect)
    // while a reconnection is between asking the sentinels and dialling the primary.
    const connector = (client as unknown as { connector: { disconnect: () => void } }).connector
    let ended = false
    client.once('end', () => { ended = true })
    client.once('connecting', () => queueMicrotask(() => connector.disconnect()))
    client.disconnect(true)
    await until(() => ended, { message: 'ioredis to end the client' })
    await until(() => client.status === 'ready', { message: 'the client to connect again' })
    t.equal(await client.ping(), 'PONG', 'and it answers')
  })

  t.test('Sentinel: the primary SIGKILLed under two instances — 503 at most during the switch, then 200 on the new primary; a run in flight completes once; usage and budgets exact', async t => {
    const sim = await startSim(t)
    const budget = 200_000
    const env = testEnv(sim, {
      STORE: 'redis',
      REDIS_SENTINELS: redis.sentinels,
      REDIS_SENTINEL_NAME: redis.name,
      ...failoverSettings(budget)
    })
    // Generous: two processes booting at once on a loaded machine.
    const gateways = await Promise.all([startGatewayProcess(t, env, 60_000), startGatewayProcess(t, env, 60_000)])
    t.ok(gateways.every(gw => !/persistence is off/.test(gw.logs.join(''))), 'AOF is on: no persistence warning at start-up')
    const primaryPort = redis.primary.port
    t.equal(await redis.currentPrimaryPort(), primaryPort)

    const measured = await primaryFailover(t, {
      sim,
      target,
      gateways,
      user: 'sandra',
      budget,
      dataPorts: () => [redis.primary, redis.replica].filter(s => s.alive).map(s => s.port),
      kill: () => killOnceReplicated(redis.primary),
      async recovered () {
        await until(async () => await redis.currentPrimaryPort().catch(() => primaryPort) === redis.replica.port,
          { timeoutMs: 30_000, intervalMs: 100, message: 'the sentinels to promote the replica' })
      }
    })
    t.ok(measured.answered > 0)
    t.match(gateways.map(gw => gw.logs.join('')).join(''), /Redis primary changed \(Sentinel failover\)/, 'the instances log the switch')
  })
}
