import t from 'tap'
import { parseHostPorts } from '../../services/redis.ts'
import { homeTag } from '../../services/store/redis/homes.ts'
import { startSim, testEnv } from '../helpers/build.ts'
import { startGatewayProcess } from '../helpers/process.ts'
import { redisOrSkip } from '../helpers/redis.ts'
import { startCluster } from '../helpers/redis-topologies.ts'
import { until } from '../helpers/until.ts'
import { failoverSettings, killOnceReplicated, primaryFailover } from './failover.ts'

if (redisOrSkip(t)) {
  t.test('Redis Cluster: the primary of a user\'s slot SIGKILLed under two instances — its replica promoted, 503 at most during the switch, then 200; a run in flight completes once; usage and budgets exact', async t => {
    const sim = await startSim(t)
    const cluster = await startCluster(t, { replicas: 1 })
    const budget = 200_000
    const env = testEnv(sim, {
      STORE: 'redis',
      REDIS_CLUSTER_NODES: cluster.nodes,
      ...failoverSettings(budget)
    })
    // Generous: two processes booting at once on a loaded machine; meanwhile the replicas show up.
    const [gateways] = await Promise.all([Promise.all([startGatewayProcess(t, env, 60_000), startGatewayProcess(t, env, 60_000)]), cluster.replicated()])
    const user = 'carla'
    // Everything of carla's (threads, runs, locks) is in one slot: its primary is the one to kill.
    const { primary, replica } = await cluster.primaryOf(`agw:{${homeTag('u', user)}}`)
    t.ok(primary && replica, 'the slot has a primary and a replica')

    await primaryFailover(t, {
      sim,
      target: { kind: 'cluster', nodes: parseHostPorts(cluster.nodes) },
      gateways,
      user,
      budget,
      dataPorts: () => cluster.servers.filter(s => s.alive).map(s => s.port),
      kill: () => killOnceReplicated(primary),
      async recovered () {
        await until(async () => (await cluster.primaryOf(`agw:{${homeTag('u', user)}}`).catch(() => null))?.primary === replica,
          { timeoutMs: 30_000, intervalMs: 100, message: 'the replica to be promoted' })
        await cluster.settled()
      }
    })
  })
}
