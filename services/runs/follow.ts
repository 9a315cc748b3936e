import type OpenAI from 'openai'
import type { FastifyBaseLogger } from 'fastify'
import { isRunningStatus, type RunRecord, type Store } from '../store/types.ts'
import type { RunEvent } from './events.ts'
import { createMessageRelay, endsResponse } from './relay.ts'
import type { RunWatcher } from './watch.ts'
import { toRunView } from './views.ts'

/** How long one wait for the followed run to move lasts before it is simply read again. */
const MOVE_WAIT_MS = 30_000

/** The run has moved on from `seen`: another status, another response, a response settled. */
const movedFrom = (seen: RunRecord) => (run: RunRecord) =>
  run.status !== seen.status || run.response_ids.length !== seen.response_ids.length || run.settled_response_ids.length !== seen.settled_response_ids.length

/**
 * Follows a run from anywhere — another instance may be driving it: its status from the store (woken
 * by the run watcher), the text of its current upstream response by replaying that response's stream
 * from the start (so a client that reconnects sees the whole answer so far). Ends after emitting the
 * run's final event. Should that stream stop early, the rest of the answer is sent from the response
 * once it is settled.
 */
export async function followRun (
  deps: { openai: OpenAI, store: Store, watcher: RunWatcher, log: FastifyBaseLogger, clock: () => number },
  runId: string,
  signal: AbortSignal,
  emit: (event: RunEvent) => void
): Promise<void> {
  const { openai, store, watcher, log, clock } = deps
  const messages = createMessageRelay(emit, () => Math.floor(clock() / 1000))
  let followed: string | null = null
  /** The followed response, when its stream stopped before the response ended. */
  let unfinished: string | null = null
  let announced = false
  let run = await store.getRun(runId)
  while (run && !signal.aborted) {
    if (unfinished && run.settled_response_ids.includes(unfinished)) {
      const response = await openai.responses.retrieve(unfinished, {}, { signal })
        .catch(err => { log.info({ err, runId }, 'could not read the end of the followed response'); return null })
      if (response) messages.finish(run, response)
      unfinished = null
    }
    if (!isRunningStatus(run.status)) {
      // Ended, or paused for the client's tool outputs: either way the stream has said all it can.
      const status = run.status as 'completed' | 'incomplete' | 'failed' | 'cancelled' | 'expired' | 'requires_action'
      emit({ event: `thread.run.${status}`, data: toRunView(run) })
      return
    }
    if (!announced && run.status !== 'queued') {
      emit({ event: 'thread.run.in_progress', data: toRunView(run) })
      announced = true
    }
    const current = run.response_ids.at(-1)
    if (current && current !== followed && !run.settled_response_ids.includes(current)) {
      followed = current
      unfinished = current
      try {
        const stream = await openai.responses.retrieve(current, { stream: true, include_obfuscation: false }, { signal })
        for await (const event of stream) {
          messages.forward(run, event)
          if (endsResponse(event)) unfinished = null
        }
      } catch (err) {
        if (signal.aborted) return
        log.info({ err, runId }, 'following the upstream stream stopped; watching the run')
      }
      run = await store.getRun(runId)
      continue
    }
    run = await watcher.watch(runId, { until: movedFrom(run), timeoutMs: MOVE_WAIT_MS, signal })
  }
}
