import { PassThrough } from 'node:stream'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { API_ERRORS, ErrorSchema, IdempotencyHeadersSchema, ListOf, ListQuerySchema, Type, errorResponses } from '../../../../schemas/common.ts'
import { CreateRunBodySchema, GetRunQuerySchema, RunFailedSchema, RunParamsSchema, RunSchema } from '../../../../schemas/runs.ts'
import { ThreadParamsSchema } from '../../../../schemas/threads.ts'
import { RunFailed, ServiceUnavailable, ValidationFailed, withDetails } from '../../../../services/errors.ts'
import { toRunView } from '../../../../services/run-driver.ts'
import { TERMINAL_EVENTS, type RunEvent } from '../../../../services/run-events.ts'
import { followRun } from '../../../../services/run-follow.ts'
import { isActiveRunStatus, type RunRecord } from '../../../../services/store/types.ts'
import { errorBody } from '../../../../plugins/app/errors.ts'
import { callerOf } from '../../../../plugins/app/auth.ts'

const tags = ['Runs']
/** SSE comment lines keep proxies and browsers from timing out an idle stream (contract: ≤ 15 s). */
const HEARTBEAT_MS = 10_000

const runLocation = (run: RunRecord) => `/api/openai/threads/${run.thread_id}/runs/${run.id}`

/** Aborts when the client goes away before the answer is written (a closed tab, a dropped connection). */
function clientGone (reply: FastifyReply): AbortSignal {
  const controller = new AbortController()
  reply.raw.once('close', () => { if (!reply.raw.writableFinished) controller.abort() })
  return controller.signal
}

/**
 * Relays a run's events as server-sent events: first-hand from the local driver, or by following
 * the run (store + upstream stream) when it may be driven elsewhere. The run does not depend on this
 * stream: when the client disconnects only the relay stops, and the answer still lands in the thread.
 */
function relay (fastify: FastifyInstance, request: FastifyRequest, reply: FastifyReply, run: RunRecord, source: 'local' | 'follow') {
  const out = new PassThrough()
  let open = true
  const write = (event: string, data: unknown) => {
    if (open) out.write(`event: ${event}\ndata: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`)
  }
  const close = (withDone: boolean) => {
    if (!open) return
    if (withDone) write('done', '[DONE]')
    open = false
    clearInterval(heartbeat)
    unsubscribe()
    fastify.eventStreams.delete(handle)
    out.end()
  }
  const handle = {
    end (reason: string) {
      write('error', errorBody(withDetails(new ServiceUnavailable(reason), {}), request.id))
      close(true)
    }
  }
  fastify.eventStreams.add(handle)
  const onEvent = (event: RunEvent) => {
    write(event.event, event.data)
    if (TERMINAL_EVENTS.has(event.event)) close(true)
  }
  let unsubscribe: () => void
  if (source === 'local') {
    // This instance drives the run it just created: its events arrive first-hand.
    unsubscribe = fastify.runEvents.subscribe(run.id, onEvent)
  } else {
    const following = new AbortController()
    unsubscribe = () => following.abort()
    followRun(fastify, run.id, following.signal, onEvent).catch(err => {
      request.log.warn({ err }, 'following the run failed')
      handle.end('Following the run failed; poll its Location')
    })
  }
  const heartbeat = setInterval(() => { if (open) out.write(': keep-alive\n\n') }, HEARTBEAT_MS)
  heartbeat.unref()
  reply.raw.once('close', () => close(false))
  if (source === 'local') write('thread.run.created', toRunView(run))
  return reply
    .code(200)
    .header('content-type', 'text/event-stream; charset=utf-8')
    .header('cache-control', 'no-cache, no-transform')
    .header('x-accel-buffering', 'no')
    .send(out)
}

const plugin: FastifyPluginAsyncTypebox = async (fastify) => {
  const { runs, config, store } = fastify

  fastify.post('/:threadId/runs', {
    config: { idempotent: true, rateBucket: 'runs' },
    schema: {
      tags,
      operationId: 'createRun',
      summary: 'Run an assistant on the thread: one request per chat turn (waits, or streams with stream: true)',
      description: '200 when the run ended (completed, incomplete, cancelled) within RUN_WAIT_TIMEOUT_MS; 502 RUN_FAILED with the run when it failed; ' +
        '202 with Location while it is still going (or with wait: false) — poll GET Location?wait=ms. With stream: true or Accept: text/event-stream ' +
        'the answer is text/event-stream: thread.run.created, thread.run.in_progress, thread.message.created, thread.message.delta…, ' +
        'thread.message.completed, one thread.run.completed|incomplete|failed|cancelled (or error), then event: done / data: [DONE].',
      headers: IdempotencyHeadersSchema,
      params: ThreadParamsSchema,
      body: CreateRunBodySchema,
      produces: ['application/json', 'text/event-stream'],
      response: {
        200: RunSchema,
        202: RunSchema,
        502: Type.Union([RunFailedSchema, ErrorSchema]),
        ...errorResponses(...API_ERRORS, 404, 409, 413, 422)
      }
    }
  }, async function (request, reply) {
    const caller = callerOf(request)
    const stream = request.body.stream === true || (request.headers.accept ?? '').includes('text/event-stream')
    const run = await runs.start(caller.id, request.params.threadId, { ...request.body, stream })
    const location = runLocation(run)
    if (stream) {
      // A stream cannot be replayed: a retried request with the same Idempotency-Key gets the run's Location.
      if (request.idempotencyKey) {
        await store.completeIdempotency(caller.id, request.idempotencyKey, {
          status: 202, body: JSON.stringify(toRunView(run)), headers: { location, 'content-type': 'application/json; charset=utf-8' }
        })
        request.idempotencyKey = null
      }
      return relay(fastify, request, reply, run, 'local')
    }
    if (request.body.wait === false) return reply.code(202).header('location', location).send(toRunView(run))
    const ended = await runs.waitForEnd(run.id, config.RUN_WAIT_TIMEOUT_MS, clientGone(reply)) ?? run
    if (isActiveRunStatus(ended.status)) return reply.code(202).header('location', location).send(toRunView(ended))
    if (ended.status === 'failed') {
      throw withDetails(new RunFailed(`The run failed: ${ended.last_error?.code ?? 'unknown'}`), { body: { run: toRunView(ended) } })
    }
    return reply.code(200).send(toRunView(ended))
  })

  fastify.get('/:threadId/runs', {
    schema: {
      tags,
      operationId: 'listRuns',
      summary: 'List the runs of a thread, newest first',
      params: ThreadParamsSchema,
      querystring: ListQuerySchema,
      response: { 200: ListOf(RunSchema), ...errorResponses(...API_ERRORS, 404) }
    }
  }, async function (request) {
    return runs.list(callerOf(request).id, request.params.threadId, request.query)
  })

  fastify.get('/:threadId/runs/:runId', {
    schema: {
      tags,
      operationId: 'getRun',
      summary: 'Get a run; ?wait=ms long-polls until it ends; Accept: text/event-stream follows it as server-sent events',
      description: 'With Accept: text/event-stream the answer replays the current message from its start, then thread.run.* events until the run ends, ' +
        'then event: done — from any instance, so a client can reconnect after a dropped stream.',
      produces: ['application/json', 'text/event-stream'],
      params: RunParamsSchema,
      querystring: GetRunQuerySchema,
      response: { 200: RunSchema, ...errorResponses(...API_ERRORS, 404) }
    }
  }, async function (request, reply) {
    const wait = request.query.wait ?? 0
    if (wait > config.RUN_LONG_POLL_MAX_MS) throw new ValidationFailed(`querystring.wait must be <= ${config.RUN_LONG_POLL_MAX_MS}`)
    if ((request.headers.accept ?? '').includes('text/event-stream')) {
      // Reattach to a run's events (after a dropped stream, or from another instance than the driver's).
      const run = await runs.get(callerOf(request).id, request.params.threadId, request.params.runId)
      return relay(fastify, request, reply, run, 'follow')
    }
    const run = await runs.get(callerOf(request).id, request.params.threadId, request.params.runId, wait, clientGone(reply))
    return toRunView(run)
  })

  fastify.post('/:threadId/runs/:runId/cancel', {
    schema: {
      tags,
      operationId: 'cancelRun',
      summary: 'Cancel a run (the upstream response too); answers the run, cancelled or cancelling',
      params: RunParamsSchema,
      response: { 200: RunSchema, ...errorResponses(...API_ERRORS, 404) }
    }
  }, async function (request) {
    return toRunView(await runs.cancel(callerOf(request).id, request.params.threadId, request.params.runId))
  })
}

export default plugin
