import type OpenAI from 'openai'
import type { FastifyBaseLogger } from 'fastify'
import type { Store } from '../store/types.ts'
import { endsRun, type RunEvent } from './events.ts'
import { followRun } from './follow.ts'
import type { RunEventSource } from './sse.ts'
import type { RunWatcher } from './watch.ts'

/**
 * What a late follower is replayed of a run followed already: the events since it started being
 * followed, up to this many characters of data (beyond it, newcomers get only what follows).
 */
const REPLAY_MAX_CHARS = 4 * 1024 * 1024

interface Following {
  listeners: Set<(event: RunEvent) => void>
  failures: Set<(reason: string) => void>
  replay: RunEvent[] | null
  replayChars: number
  stop: AbortController
}

/**
 * Followers of one run on this instance share one follow — one upstream stream, one watch — however
 * many streams relay it: a tab reconnecting, several tabs, a retrying client. A follower that joins
 * later is replayed what the shared follow has emitted, so it too sees the answer from its start.
 */
export function createRunFollowers (deps: { openai: OpenAI, store: Store, watcher: RunWatcher, log: FastifyBaseLogger, clock: () => number }) {
  const { log } = deps
  const following = new Map<string, Following>()

  function start (runId: string): Following {
    const session: Following = { listeners: new Set(), failures: new Set(), replay: [], replayChars: 0, stop: new AbortController() }
    following.set(runId, session)
    const fanOut = (event: RunEvent) => {
      if (session.replay) {
        session.replayChars += JSON.stringify(event.data).length
        if (session.replayChars > REPLAY_MAX_CHARS) session.replay = null
        else session.replay.push(event)
      }
      for (const listener of [...session.listeners]) listener(event)
    }
    const failAll = (reason: string) => { for (const fail of [...session.failures]) fail(reason) }
    followRun(deps, runId, session.stop.signal, fanOut)
      .then(
        () => failAll('The run can no longer be followed; poll its Location'),
        err => {
          log.warn({ err, runId }, 'following the run failed')
          failAll('Following the run failed; poll its Location')
        })
      .finally(() => { if (following.get(runId) === session) following.delete(runId) })
    return session
  }

  return {
    /** The events of a run driven anywhere, from this instance's one follow of it. */
    source (runId: string): RunEventSource {
      return (emit, fail) => {
        const session = following.get(runId) ?? start(runId)
        for (const event of session.replay ?? []) {
          emit(event)
          if (endsRun(event)) return () => {}
        }
        session.listeners.add(emit)
        session.failures.add(fail)
        return () => {
          session.listeners.delete(emit)
          session.failures.delete(fail)
          if (session.listeners.size === 0) {
            session.stop.abort()
            following.delete(runId)
          }
        }
      }
    },

    /** Runs followed on this instance now (one upstream stream each at most). */
    size: () => following.size
  }
}
export type RunFollowers = ReturnType<typeof createRunFollowers>
