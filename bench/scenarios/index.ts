import chatTurn from './chat-turn.ts'
import contextCost from './context-cost.ts'
import crossInstance from './cross-instance.ts'
import overhead from './overhead.ts'
import redisCluster from './redis-cluster.ts'
import rejections from './rejections.ts'
import soak from './soak.ts'
import type { Scenario } from './types.ts'
import tracing from './tracing.ts'
import turnCost from './turn-cost.ts'
import uploads from './uploads.ts'
import waitingRuns from './waiting-runs.ts'

/** In the order of the issue; `npm run bench -- <name>` picks some. */
export const SCENARIOS: Scenario[] = [
  overhead,
  chatTurn,
  waitingRuns,
  uploads,
  rejections,
  soak,
  crossInstance,
  redisCluster,
  contextCost,
  tracing,
  turnCost
]
