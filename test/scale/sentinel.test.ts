import t from 'tap'
import { Redis } from 'ioredis'
import { parseHostPorts } from '../../services/redis.ts'
import { startSim, testEnv } from '../helpers/build.ts'
import { startGatewayProcess } from '../helpers/process.ts'
import { sentinelOrSkip, startSentinels } from '../helpers/redis-topologies.ts'
import { until } from '../helpers/until.ts'
import { primaryFailover } from './failover.ts'

if (sentinelOrSkip(t)) {
  t.test('Sentinel: the primary SIGKILLed under two instances — 503 at most during the switch, then 200 on the new primary; a run in flight completes once; usage and budgets exact', async t => {
    const sim = await startSim(t)
    const redis = await startSentinels(t)
    const budget = 200_000
    const env = testEnv(sim, {
      STORE: 'redis',
      REDIS_SENTINELS: redis.sentinels,
      REDIS_SENTINEL_NAME: redis.name,
      BUDGET_USER_DAILY_TOKENS: String(budget),
      RATE_LIMIT_MAX: '10000',
      RATE_LIMIT_RUNS_MAX: '10000',
      RUN_LEASE_MS: '1000',
      RUN_POLL_MAX_MS: '200',
      LOG_LEVEL: 'info'
    })
    // Generous: two processes booting at once on a loaded machine.
    const gateways = await Promise.all([startGatewayProcess(t, env, 60_000), startGatewayProcess(t, env, 60_000)])
    t.ok(gateways.every(gw => !/persistence is off/.test(gw.logs.join(''))), 'AOF is on: no persistence warning at start-up')
    const primaryPort = redis.primary.port
    t.equal(await redis.currentPrimaryPort(), primaryPort)

    const measured = await primaryFailover(t, {
      sim,
      target: { kind: 'sentinel', sentinels: parseHostPorts(redis.sentinels), name: redis.name },
      gateways,
      user: 'sandra',
      budget,
      dataPorts: () => [redis.primary, redis.replica].filter(s => s.alive).map(s => s.port),
      async kill () {
        // What the primary acknowledged has reached the replica (replication is asynchronous: a write
        // in the last instant before a crash can be lost, README "Scaling out").
        const primary = new Redis({ port: primaryPort, host: '127.0.0.1' })
        await primary.call('WAIT', '1', '5000')
        primary.disconnect()
        await redis.primary.kill()
      },
      async recovered () {
        await until(async () => await redis.currentPrimaryPort().catch(() => primaryPort) === redis.replica.port,
          { timeoutMs: 30_000, intervalMs: 100, message: 'the sentinels to promote the replica' })
      }
    })
    t.ok(measured.answered > 0)
    t.match(gateways.map(gw => gw.logs.join('')).join(''), /Redis primary changed \(Sentinel failover\)/, 'the instances log the switch')
  })
}
