import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { API_ERRORS, ErrorSchema, IdempotencyHeadersSchema, ListOf, ListQuerySchema, Type, errorResponses } from '../../../../schemas/common.ts'
import {
  CreateRunBodySchema, CreateThreadAndRunBodySchema, GetRunQuerySchema, RunFailedSchema, RunParamsSchema, RunSchema, RunStepParamsSchema, RunStepSchema,
  SubmitToolOutputsBodySchema, UpdateRunBodySchema, type Run
} from '../../../../schemas/runs.ts'
import { ThreadParamsSchema } from '../../../../schemas/threads.ts'
import { refuseUnsupportedParts } from '../../../../services/content-parts.ts'
import { RunFailed, invalidArgument, isGatewayError, withDetails } from '../../../../services/errors.ts'
import { runRequest } from '../../../../services/runs/request.ts'
import type { RunEvent } from '../../../../services/runs/events.ts'
import type { RunEventSource } from '../../../../services/runs/sse.ts'
import { assistantsRunView, toRunView } from '../../../../services/runs/views.ts'
import { isRunningStatus, type RunRecord } from '../../../../services/store/types.ts'

const tags = ['Runs']

/** How soon a client polling a run should ask again (`openai-poll-after-ms`, which the SDK's runs.poll obeys). */
const POLL_AFTER_MS = '100'
/** How long the SDK's runs.poll is held on the server waiting for the run to move (below common proxy timeouts). */
const POLL_HELPER_WAIT_MS = 20_000

/** Events whose data is a Run (not a step, a message or an error). */
const isRunEvent = (event: RunEvent) => event.event.startsWith('thread.run.') && !event.event.startsWith('thread.run.step.')
const present = (request: FastifyRequest, run: Run) => speaksAssistantsV2(request) ? assistantsRunView(run) : run

const runLocation = (run: RunRecord) => `/api/openai/threads/${run.thread_id}/runs/${run.id}`
const wantsEvents = (request: FastifyRequest) => (request.headers.accept ?? '').includes('text/event-stream')
/** The official SDK's beta.* calls: they expect the Assistants API's semantics where ours differ. */
const speaksAssistantsV2 = (request: FastifyRequest) => /\bassistants=v2\b/.test(String(request.headers['openai-beta'] ?? ''))
/** The SDK's runs.poll, without a custom interval: served as a long poll, so it sees the run's end at once. */
const isPollHelper = (request: FastifyRequest) =>
  request.headers['x-stainless-poll-helper'] === 'true' && request.headers['x-stainless-custom-poll-interval'] === undefined

/** Aborts when the client goes away before the answer is written (a closed tab, a dropped connection). */
function clientGone (reply: FastifyReply): AbortSignal {
  const controller = new AbortController()
  reply.raw.once('close', () => { if (!reply.raw.writableFinished) controller.abort() })
  return controller.signal
}

const STARTED_RUN_DESCRIPTION = 'Waits for the run (wait, default true): 200 when it ended (completed, incomplete, cancelled) or paused (requires_action) within ' +
  'RUN_WAIT_TIMEOUT_MS; 502 RUN_FAILED with the run when it failed (a 200 with the failed run when the request carries OpenAI-Beta: assistants=v2); ' +
  '202 with Location and openai-poll-after-ms while it is still going, or at once with wait: false — poll GET Location?wait=ms. ' +
  'With OpenAI-Beta: assistants=v2 (the official SDK\'s beta.* calls) and no wait, the answer is at once, as the Assistants API\'s was: 202 with the run ' +
  'queued, so a client has its id to cancel (createAndPoll and runs.poll then see its end promptly); wait: true still waits. With stream: true or Accept: text/event-stream ' +
  'the answer is text/event-stream: thread.run.created, thread.run.queued, thread.run.in_progress, thread.message.created, thread.message.in_progress, ' +
  'thread.message.delta…, thread.message.completed, one thread.run.completed|incomplete|failed|cancelled (or error), then event: done / data: [DONE].'

const startedRunResponses = {
  200: RunSchema,
  202: RunSchema,
  502: Type.Union([RunFailedSchema, ErrorSchema]),
  ...errorResponses(...API_ERRORS, 404, 409, 413, 422)
}

const plugin: FastifyPluginAsyncTypebox = async (fastify) => {
  const { runs, assistants, config, eventStreams, idempotency } = fastify

  /** The Run for this caller: admins see the profile's instructions, users never do; SDK clients in their vocabulary. */
  async function view (request: FastifyRequest, run: RunRecord): Promise<Run> {
    const instructions = request.caller.isAdmin ? (await assistants.get(run.assistant_type))?.profile.instructions ?? null : null
    return present(request, toRunView(run, instructions))
  }

  /** The events of a run as this caller reads them (the SDK's beta.* calls in the Assistants API's vocabulary). */
  function eventsFor (request: FastifyRequest, source: RunEventSource): RunEventSource {
    if (!speaksAssistantsV2(request)) return source
    return (emit, fail) => source(event => emit(isRunEvent(event) ? { ...event, data: assistantsRunView(event.data as Run) } as RunEvent : event), fail)
  }

  /** The answer to a request that started a run: its events, or the run once it ended or the wait is over. */
  async function answer (request: FastifyRequest, reply: FastifyReply, run: RunRecord, stream: boolean, wait: boolean | undefined, from: 'created' | 'resumed' = 'created') {
    const location = runLocation(run)
    if (stream) {
      // A stream cannot be replayed: a retried request with the same Idempotency-Key gets the run's Location.
      await idempotency.complete(request, {
        status: 202, body: JSON.stringify(await view(request, run)), headers: { location, 'content-type': 'application/json; charset=utf-8' }
      })
      return eventStreams.send(reply, request.id, request.caller.id, eventsFor(request, runs.events(run, from)))
    }
    // A run paused for the client's tool outputs is an answer too (requires_action), as is an ended one.
    const ended = wait === false ? run : await runs.waitForEnd(run.id, config.RUN_WAIT_TIMEOUT_MS, clientGone(reply)) ?? run
    if (isRunningStatus(ended.status)) {
      return reply.code(202).header('location', location).header('openai-poll-after-ms', POLL_AFTER_MS).send(await view(request, ended))
    }
    // The SDK would retry a 502 into new runs: a failed run is an answer, as the Assistants API gave it.
    if (ended.status === 'failed' && !speaksAssistantsV2(request)) {
      throw withDetails(new RunFailed(`The run failed: ${ended.last_error?.code ?? 'unknown'}`), { body: { run: await view(request, ended) } })
    }
    return reply.code(200).send(await view(request, ended))
  }

  /** A run that waits for its answer may also wait (within that time) for the caller's reservations in flight to settle. */
  const budgetWait = (reply: FastifyReply, wait: boolean | undefined) =>
    ({ waitMs: wait === false ? 0 : config.RUN_WAIT_TIMEOUT_MS, signal: clientGone(reply) })

  /**
   * Whether a request that starts a run waits for its end. The Assistants API answered at once (queued), and
   * UIs built on it need the id at once to offer Stop: the SDK's calls get that unless they ask to wait.
   */
  const waitsForEnd = (request: FastifyRequest, wait: boolean | undefined) => wait ?? !speaksAssistantsV2(request)

  fastify.post('/:threadId/runs', {
    config: { idempotent: true, rateBucket: 'runs' },
    preValidation: refuseUnsupportedParts('additional_messages'),
    schema: {
      tags,
      operationId: 'createRun',
      summary: 'Run an assistant on the thread: one request per chat turn (waits, or streams with stream: true)',
      description: STARTED_RUN_DESCRIPTION,
      headers: IdempotencyHeadersSchema,
      params: ThreadParamsSchema,
      body: CreateRunBodySchema,
      produces: ['application/json', 'text/event-stream'],
      response: startedRunResponses
    }
  }, async function (request, reply) {
    const { wait, ...body } = request.body
    const stream = body.stream === true || wantsEvents(request)
    if (stream) eventStreams.ensureRoom(request.caller.id)
    const run = await runs.start(request.caller.id, request.params.threadId, runRequest(body, stream), budgetWait(reply, wait))
    return answer(request, reply, run, stream, waitsForEnd(request, wait))
  })

  fastify.post('/runs', {
    config: { idempotent: true, rateBucket: 'runs' },
    preValidation: refuseUnsupportedParts('thread.messages'),
    schema: {
      tags,
      operationId: 'createThreadAndRun',
      summary: 'Create a thread (with messages and metadata) and run an assistant on it: the SDK\'s createAndRun',
      description: STARTED_RUN_DESCRIPTION,
      headers: IdempotencyHeadersSchema,
      body: CreateThreadAndRunBodySchema,
      produces: ['application/json', 'text/event-stream'],
      response: startedRunResponses
    }
  }, async function (request, reply) {
    const { wait, thread, ...body } = request.body
    const stream = body.stream === true || wantsEvents(request)
    if (stream) eventStreams.ensureRoom(request.caller.id)
    // Checked before the thread is created, so a refused run leaves nothing behind for what can be checked.
    const asked = runRequest(body, stream)
    const created = await fastify.threads.create(request.caller.id, thread ?? {}).catch(err => {
      // The thread's fields sit under `thread` in this body: a refusal names them there.
      if (isGatewayError(err) && err.param !== undefined) err.param = `thread.${err.param}`
      throw err
    })
    const run = await runs.start(request.caller.id, created.id, asked, budgetWait(reply, wait))
    return answer(request, reply, run, stream, waitsForEnd(request, wait))
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
    const page = await runs.list(request.caller.id, request.params.threadId, request.query)
    return { ...page, data: page.data.map(run => present(request, run)) }
  })

  fastify.get('/:threadId/runs/:runId', {
    schema: {
      tags,
      operationId: 'getRun',
      summary: 'Get a run; ?wait=ms long-polls until it ends; Accept: text/event-stream follows it as server-sent events',
      description: 'Active runs carry openai-poll-after-ms; the SDK\'s runs.poll (X-Stainless-Poll-Helper: true, no custom interval) is held until the run moves, up to 20 s. ' +
        'With Accept: text/event-stream the answer replays the current message from its start, then thread.run.* events until the run ends, ' +
        'then event: done — from any instance, so a client can reconnect after a dropped stream.',
      produces: ['application/json', 'text/event-stream'],
      params: RunParamsSchema,
      querystring: GetRunQuerySchema,
      response: { 200: RunSchema, ...errorResponses(...API_ERRORS, 404) }
    }
  }, async function (request, reply) {
    const asked = request.query.wait ?? 0
    if (asked > config.RUN_LONG_POLL_MAX_MS) throw invalidArgument('wait', `must be <= ${config.RUN_LONG_POLL_MAX_MS}`)
    const wait = isPollHelper(request) ? Math.max(asked, Math.min(POLL_HELPER_WAIT_MS, config.RUN_LONG_POLL_MAX_MS)) : asked
    const { threadId, runId } = request.params
    if (wantsEvents(request)) {
      // Reattach to a run's events (after a dropped stream, or from another instance than the driver's).
      eventStreams.ensureRoom(request.caller.id)
      const run = await runs.get(request.caller.id, threadId, runId)
      return eventStreams.send(reply, request.id, request.caller.id, eventsFor(request, runs.events(run, 'follow')))
    }
    const run = await runs.get(request.caller.id, threadId, runId, wait, clientGone(reply))
    if (isRunningStatus(run.status)) reply.header('openai-poll-after-ms', POLL_AFTER_MS)
    return view(request, run)
  })

  fastify.post('/:threadId/runs/:runId', {
    schema: {
      tags,
      operationId: 'updateRun',
      summary: 'Replace a run\'s metadata',
      params: RunParamsSchema,
      body: UpdateRunBodySchema,
      response: { 200: RunSchema, ...errorResponses(...API_ERRORS, 404, 413) }
    }
  }, async function (request) {
    return view(request, await runs.update(request.caller.id, request.params.threadId, request.params.runId, request.body.metadata))
  })

  fastify.post('/:threadId/runs/:runId/submit_tool_outputs', {
    // The second half of a turn that started a run: not another run (only the general per-user limit applies).
    config: { idempotent: true },
    schema: {
      tags,
      operationId: 'submitToolOutputs',
      summary: 'Answer the client-tool calls a run waits for (requires_action): one output per pending call, then the run goes on',
      description: 'Every pending call id exactly once (400 names unknown, missing or repeated ids); a run not in requires_action is a 400. ' +
        'Answers as POST …/runs does: waits (200 when it ends or pauses again, 202 while still going), or streams the rest with stream: true.',
      headers: IdempotencyHeadersSchema,
      params: RunParamsSchema,
      body: SubmitToolOutputsBodySchema,
      produces: ['application/json', 'text/event-stream'],
      response: startedRunResponses
    }
  }, async function (request, reply) {
    const { threadId, runId } = request.params
    const stream = request.body.stream === true || wantsEvents(request)
    if (stream) eventStreams.ensureRoom(request.caller.id)
    const run = await runs.submitToolOutputs(request.caller.id, threadId, runId, request.body.tool_outputs)
    return answer(request, reply, run, stream, request.body.wait, 'resumed')
  })

  fastify.get('/:threadId/runs/:runId/steps', {
    schema: {
      tags,
      operationId: 'listRunSteps',
      summary: 'List a run\'s steps: the messages it wrote and its rounds of function calls',
      params: RunParamsSchema,
      querystring: ListQuerySchema,
      response: { 200: ListOf(RunStepSchema), ...errorResponses(...API_ERRORS, 404) }
    }
  }, async function (request) {
    const { threadId, runId } = request.params
    return runs.listSteps(request.caller.id, threadId, runId, request.query)
  })

  fastify.get('/:threadId/runs/:runId/steps/:stepId', {
    schema: {
      tags,
      operationId: 'getRunStep',
      summary: 'Get one step of a run',
      params: RunStepParamsSchema,
      response: { 200: RunStepSchema, ...errorResponses(...API_ERRORS, 404) }
    }
  }, async function (request) {
    const { threadId, runId, stepId } = request.params
    return runs.getStep(request.caller.id, threadId, runId, stepId)
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
    return view(request, await runs.cancel(request.caller.id, request.params.threadId, request.params.runId))
  })
}

export default plugin
