import { PassThrough } from 'node:stream'
import type { FastifyReply } from 'fastify'
import { RateLimited, ServiceUnavailable, errorBody, withDetails } from '../errors.ts'
import { endsRun, type RunEvent } from './events.ts'

/** SSE comment lines keep proxies and browsers from timing out an idle stream (contract: ≤ 15 s). */
const HEARTBEAT_MS = 10_000

/**
 * Where a stream's events come from: started with the function to emit them and one to call when the
 * source breaks; returns the function that stops it.
 */
export type RunEventSource = (emit: (event: RunEvent) => void, fail: (reason: string) => void) => () => void

interface OpenStream { end (reason: string): void }

/**
 * Server-sent event streams of runs, and the registry of those open, so that shutdown can end them
 * (close() is not held up by them, and each client is told to poll instead), and so that one user
 * cannot hold an unbounded number of them. The run never depends on a stream: when the client
 * disconnects only the relay stops, and the answer still lands.
 */
export function createEventStreams ({ maxPerUser, heartbeatMs = HEARTBEAT_MS }: { maxPerUser: number, heartbeatMs?: number }) {
  const open = new Set<OpenStream>()
  const perUser = new Map<string, number>()

  return {
    /** Refuses (429) a user who already has the most streams open; checked before a stream's run is started. */
    ensureRoom (user: string): void {
      if ((perUser.get(user) ?? 0) >= maxPerUser) {
        throw withDetails(new RateLimited(`At most ${maxPerUser} event streams may be open per user; close one, or poll the run instead`), { retryAfterSeconds: 5 })
      }
    },

    /** Answers `reply` with the source's events until the run's final event, then `event: done`. */
    send (reply: FastifyReply, requestId: string, user: string, source: RunEventSource): FastifyReply {
      const out = new PassThrough()
      let ended = false
      const write = (event: string, data: unknown) => {
        if (!ended) out.write(`event: ${event}\ndata: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`)
      }
      const close = (withDone: boolean) => {
        if (ended) return
        if (withDone) write('done', '[DONE]')
        ended = true
        clearInterval(heartbeat)
        stop()
        open.delete(stream)
        const left = (perUser.get(user) ?? 1) - 1
        if (left > 0) perUser.set(user, left)
        else perUser.delete(user)
        out.end()
      }
      const stream: OpenStream = {
        end (reason) {
          write('error', errorBody(new ServiceUnavailable(reason), requestId))
          close(true)
        }
      }
      open.add(stream)
      perUser.set(user, (perUser.get(user) ?? 0) + 1)
      const heartbeat = setInterval(() => { if (!ended) out.write(': keep-alive\n\n') }, heartbeatMs)
      heartbeat.unref()
      reply.raw.once('close', () => close(false))
      let stop: () => void = () => {}
      stop = source(event => {
        write(event.event, event.data)
        if (endsRun(event)) close(true)
      }, reason => stream.end(reason))
      if (ended) stop()
      return reply
        .code(200)
        .header('content-type', 'text/event-stream; charset=utf-8')
        .header('cache-control', 'no-cache, no-transform')
        .header('x-accel-buffering', 'no')
        .send(out)
    },

    /** Ends every open stream with an `error` event saying why (shutdown). */
    endAll (reason: string): void {
      for (const stream of open) stream.end(reason)
    },

    /** Streams open now. */
    size: () => open.size
  }
}
export type EventStreams = ReturnType<typeof createEventStreams>
