import type OpenAI from 'openai'
import type { FastifyBaseLogger } from 'fastify'
import { messageEventOf, toRunView } from './run-driver.ts'
import type { RunEvent } from './run-events.ts'
import { isActiveRunStatus, type Store } from './store/types.ts'

const STORE_CHECK_MS = 250

/**
 * Follows a run from anywhere — another instance may be driving it: its status from the store, the
 * text of its current upstream response by replaying that response's stream from the start (so a
 * client that reconnects sees the whole answer so far). Ends after emitting the run's final event.
 */
export async function followRun (
  deps: { openai: OpenAI, store: Store, log: FastifyBaseLogger, clock: () => number },
  runId: string,
  signal: AbortSignal,
  emit: (event: RunEvent) => void
): Promise<void> {
  const { openai, store, log, clock } = deps
  let followed: string | null = null
  let announced = false
  while (!signal.aborted) {
    const run = await store.getRun(runId)
    if (!run) return
    if (!isActiveRunStatus(run.status)) {
      const status = run.status as 'completed' | 'incomplete' | 'failed' | 'cancelled'
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
      try {
        const stream = await openai.responses.retrieve(current, { stream: true }, { signal })
        for await (const event of stream) {
          const mapped = messageEventOf(event, run, Math.floor(clock() / 1000))
          if (mapped) emit(mapped)
        }
      } catch (err) {
        if (signal.aborted) return
        log.info({ err, runId }, 'following the upstream stream stopped; watching the run')
      }
      continue
    }
    await new Promise(resolve => setTimeout(resolve, STORE_CHECK_MS))
  }
}
