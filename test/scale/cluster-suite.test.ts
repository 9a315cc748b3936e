import t from 'tap'
import { redisOrSkip } from '../helpers/redis.ts'
import { SCALE_TOPOLOGY } from '../helpers/redis-topologies.ts'

// The multi-instance suites again, each test on a Redis Cluster of three primaries of its own instead
// of one redis-server (helpers/redis-topologies.ts scaleRedis): runs across instances (one per thread,
// polled, cancelled and streamed elsewhere, resumed after a crash, ends seen through the change feed)
// and budgets shared under concurrency. Imported, not copied, so the topologies cannot drift apart.
// Rate limits across instances on a cluster are checked by cluster.test.ts, after its failover.
if (redisOrSkip(t)) {
  process.env[SCALE_TOPOLOGY] = 'cluster'
  await import('./runs.test.ts')
  await import('./budgets.test.ts')
}
