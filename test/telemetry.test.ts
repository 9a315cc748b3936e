import { randomBytes } from 'node:crypto'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import t from 'tap'
import { startGatewayProcess } from './helpers/process.ts'
import { build, SIM_KEY, startSim, tempDir, testEnv } from './helpers/build.ts'
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from './helpers/otlp-receiver.ts'
import { text, wav } from './fixtures/samples.ts'
import { bearer, userToken } from './helpers/tokens.ts'
import { until } from './helpers/until.ts'
import { keyShaped } from './helpers/fake-secrets.ts'
import { startWebhookTools, writeAgentsFile, WEBHOOK_SECRET } from './helpers/webhook-tools.ts'
import { createSqliteStore } from '../services/store/sqlite-store.ts'

const TOKEN = userToken('alice')
const headers = { ...bearer(TOKEN), 'content-type': 'application/json' }
const SERVER = 2
const CLIENT = 3

/** The environment of a gateway exporting to `receiver` in OTLP/JSON, its batches sent every 100 ms. */
const otelEnv = (receiver: OtlpReceiver, extra: Record<string, string> = {}) => ({
  OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
  OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
  OTEL_BSP_SCHEDULE_DELAY: '100',
  ...extra
})

/** A caller's own trace context, as an SPA instrumented with OpenTelemetry sends it. */
function callerContext () {
  const traceId = randomBytes(16).toString('hex')
  const spanId = randomBytes(8).toString('hex')
  return { traceId, spanId, traceparent: `00-${traceId}-${spanId}-01` }
}

async function thread (url: string, content: string): Promise<string> {
  const res = await fetch(`${url}/api/openai/threads`, { method: 'POST', headers, body: JSON.stringify({ messages: [{ role: 'user', content }] }) })
  return (await res.json() as { id: string }).id
}

const one = (spans: ReceivedSpan[], name: string) => {
  const found = spans.filter(s => s.name === name)
  if (found.length !== 1) throw new Error(`expected one span ${name}, got ${found.length}: ${spans.map(s => s.name).join(', ')}`)
  return found[0]!
}

t.test('a streamed chat turn with a tool round is one trace: the request, the run, each upstream response and the tool call, in GenAI terms and without content', async t => {
  const sim = await startSim(t)
  const receiver = await startOtlpReceiver(t)
  const hooks = await startWebhookTools(t)
  const agents = writeAgentsFile(tempDir(t), hooks.url)
  const gateway = await startGatewayProcess(t, testEnv(sim, otelEnv(receiver, {
    AGENTS_FILE: agents, TOOL_WEBHOOK_SECRET: WEBHOOK_SECRET, TOOL_WEBHOOK_ALLOWED_NETWORKS: '127.0.0.1', OTEL_SERVICE_NAME: 'gateway-under-test'
  })))
  const prompt = 'Zanzibar-quokka-17 asks: my achievements? [call:get_user_achievements {"limit":2}]'
  const threadId = await thread(gateway.url, prompt)
  const caller = callerContext()
  const res = await fetch(`${gateway.url}/api/openai/threads/${threadId}/runs`, {
    method: 'POST', headers: { ...headers, traceparent: caller.traceparent }, body: JSON.stringify({ assistant_type: 'curator', stream: true })
  })
  t.equal(res.status, 200)
  const events = await res.text()
  t.match(events, /thread\.run\.completed/)

  const spansOf = () => receiver.spans.filter(s => s.traceId === caller.traceId)
  await until(() => spansOf().some(s => s.name === 'invoke_agent curator'), { message: 'the run span to be exported' })
  const spans = spansOf()
  const route = one(spans, 'POST /api/openai/threads/:threadId/runs')
  const run = one(spans, 'invoke_agent curator')
  const chats = spans.filter(s => s.name === 'chat gpt-4.1-mini').sort((a, b) => Number(a.attributes['assistant_gateway.round']) - Number(b.attributes['assistant_gateway.round']))
  const tool = one(spans, 'execute_tool get_user_achievements')

  t.equal(route.parentSpanId, caller.spanId, 'the request span continues the caller\'s traceparent')
  t.equal(route.kind, SERVER)
  t.match(route.attributes, { 'http.route': '/api/openai/threads/:threadId/runs', 'http.response.status_code': 200, 'url.path': `/api/openai/threads/${threadId}/runs` })
  t.equal(run.parentSpanId, route.spanId, 'the run is a child of the request that started it')
  t.match(run.attributes, { 'gen_ai.operation.name': 'invoke_agent', 'gen_ai.agent.id': 'curator', 'gen_ai.conversation.id': threadId, 'assistant_gateway.run.status': 'completed' })
  t.equal(chats.length, 2, 'one span per upstream response: the tool call, then the answer')
  for (const chat of chats) {
    t.equal(chat.parentSpanId, run.spanId)
    t.equal(chat.kind, CLIENT)
    t.match(chat.attributes, {
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'openai',
      'gen_ai.request.model': 'gpt-4.1-mini',
      'gen_ai.response.model': String,
      'gen_ai.response.id': /^resp_/,
      'gen_ai.conversation.id': threadId,
      'gen_ai.request.stream': true,
      'gen_ai.usage.input_tokens': Number,
      'gen_ai.usage.output_tokens': Number,
      'gen_ai.response.time_to_first_chunk': Number
    })
  }
  t.same(chats.map(c => c.attributes['gen_ai.response.finish_reasons']), [['tool_calls'], ['stop']])
  for (const chat of chats) {
    t.ok(spans.some(s => s.name === 'openai responses.create' && s.parentSpanId === chat.spanId && s.kind === CLIENT), 'the upstream call itself, under its response')
  }
  t.not(chats[0]!.attributes['gen_ai.response.id'], chats[1]!.attributes['gen_ai.response.id'])
  const finished = await (await fetch(`${gateway.url}/api/openai/threads/${threadId}/runs?limit=1`, { headers })).json() as { data: Array<{ usage: { prompt_tokens: number, completion_tokens: number } }> }
  t.equal(chats.reduce((n, c) => n + Number(c.attributes['gen_ai.usage.input_tokens']), 0), finished.data[0]!.usage.prompt_tokens, 'the spans\' tokens add up to the run\'s usage')
  t.equal(chats.reduce((n, c) => n + Number(c.attributes['gen_ai.usage.output_tokens']), 0), finished.data[0]!.usage.completion_tokens)

  t.equal(tool.parentSpanId, run.spanId)
  t.match(tool.attributes, { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'get_user_achievements', 'gen_ai.tool.type': 'extension', 'gen_ai.tool.call.id': /^call_/, 'assistant_gateway.tool.outcome': 'ok' })
  t.equal(hooks.calls.length, 1)
  t.equal(hooks.calls[0]!.traceparent, `00-${caller.traceId}-${tool.spanId}-01`, 'the webhook tool is called inside the tool span\'s trace')
  t.equal(hooks.calls[0]!.signatureValid, true, 'and its signature still verifies')
  t.match(route.resource, { 'service.name': 'gateway-under-test' })

  // Nothing of the conversation, nor any credential, on any span the gateway exported.
  const messages = await (await fetch(`${gateway.url}/api/openai/threads/${threadId}/messages`, { headers })).json() as { data: Array<{ role: string, content: Array<{ text: { value: string } }> }> }
  const answer = messages.data.find(m => m.role === 'assistant')!.content[0]!.text.value
  t.match(answer, /week-streak/, 'the answer quotes the tool output')
  const exported = JSON.stringify(receiver.spans.map(s => ({ name: s.name, attributes: s.attributes, links: s.links, status: s.status })))
  for (const [what, text] of [['the prompt', 'Zanzibar-quokka-17'], ['the answer', answer.slice(0, 40)], ['the tool output', 'week-streak'], ['the user id', '"alice"'], ['the bearer token', TOKEN], ['the OpenAI key', SIM_KEY]]) {
    t.notOk(exported.includes(text!), `${what} is on no span`)
  }
  for (const key of ['gen_ai.input.messages', 'gen_ai.output.messages', 'gen_ai.system_instructions', 'gen_ai.tool.call.arguments', 'gen_ai.tool.call.result']) {
    t.notOk(receiver.spans.some(s => key in s.attributes), `no ${key} without the opt-in`)
  }

  // Log lines written inside the request's spans carry its trace id.
  const lines = gateway.logs.join('').split('\n').filter(line => line.startsWith('{')).map(line => JSON.parse(line) as { trace_id?: string, msg?: string })
  t.ok(lines.some(line => line.trace_id === caller.traceId && line.msg === 'request completed'), 'the turn\'s log lines name its trace')

  // The GenAI metrics: on /metrics, and pushed over OTLP (flushed at SIGTERM).
  const scrape = await (await fetch(`${gateway.url}/metrics`)).text()
  t.match(scrape, /assistant_gateway_gen_ai_client_token_usage_count\{[^}]*gen_ai_token_type="input"[^}]*\} 2/)
  t.match(scrape, /assistant_gateway_gen_ai_client_operation_time_to_first_chunk_seconds_count\{[^}]*gen_ai_agent_id="curator"[^}]*\} 2/)
  gateway.child.kill('SIGTERM')
  t.equal(await gateway.exited, 0)
  const metric = (name: string) => receiver.metrics.filter(m => m.name === name).flatMap(m => m.points)
  t.match(metric('gen_ai.client.token.usage'), [
    { attributes: { 'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'openai', 'gen_ai.request.model': 'gpt-4.1-mini', 'gen_ai.agent.id': 'curator', 'gen_ai.token.type': 'input' }, count: 2 },
    { attributes: { 'gen_ai.token.type': 'output' }, count: 2 }
  ])
  t.ok(metric('gen_ai.client.operation.duration').some(p => p.attributes['gen_ai.operation.name'] === 'invoke_agent' && p.count === 1), 'the turn\'s duration')
  t.ok(metric('gen_ai.client.operation.time_to_first_chunk').some(p => p.count === 2))
  t.ok(metric('assistant_gateway.estimated_cost').some(p => (p.value ?? 0) > 0), 'the spend in USD')
  t.same(sim.nonconforming(), [])
})

t.test('a transcription and a file upload are client spans under their requests, in GenAI terms, without the audio\'s words or the file\'s name', async t => {
  const sim = await startSim(t)
  const receiver = await startOtlpReceiver(t)
  const gateway = await startGatewayProcess(t, testEnv(sim, otelEnv(receiver, { UPLOAD_TMP_DIR: tempDir(t, 'agw-spool-') })))
  const post = async (path: string, body: FormData, caller: ReturnType<typeof callerContext>) => {
    const res = await fetch(`${gateway.url}${path}`, { method: 'POST', headers: { ...bearer(TOKEN), traceparent: caller.traceparent }, body })
    return { status: res.status, body: await res.json() as Record<string, unknown> }
  }

  const audioCaller = callerContext()
  const audio = new FormData()
  audio.append('file', new Blob([new Uint8Array(wav())], { type: 'audio/wav' }), 'Zanzibar-quokka-17.wav')
  audio.append('model', 'whisper-1')
  const transcribed = await post('/api/openai/audio/transcriptions', audio, audioCaller)
  t.equal(transcribed.status, 200)
  const fileCaller = callerContext()
  const file = new FormData()
  file.append('file', new Blob([new Uint8Array(text.plain())], { type: 'text/plain' }), 'Zanzibar-quokka-17.txt')
  const uploaded = await post('/api/openai/files', file, fileCaller)
  t.equal(uploaded.status, 201)

  const spansOf = (caller: ReturnType<typeof callerContext>) => receiver.spans.filter(s => s.traceId === caller.traceId)
  // The request spans end after their replies, so they may come in a later batch than the spans under them.
  const exported = (caller: ReturnType<typeof callerContext>, names: string[]) => names.every(name => spansOf(caller).some(s => s.name === name))
  await until(() => exported(audioCaller, ['POST /api/openai/audio/transcriptions', 'transcription gpt-transcribe']) && exported(fileCaller, ['POST /api/openai/files', 'upload_file']),
    { message: 'the transcription and upload spans, and their requests\', to be exported' })
  const audioRoute = one(spansOf(audioCaller), 'POST /api/openai/audio/transcriptions')
  const transcription = one(spansOf(audioCaller), 'transcription gpt-transcribe')
  t.equal(transcription.parentSpanId, audioRoute.spanId)
  t.equal(transcription.kind, CLIENT)
  t.match(transcription.attributes, {
    'gen_ai.operation.name': 'transcription',
    'gen_ai.provider.name': 'openai',
    'gen_ai.request.model': 'gpt-transcribe',
    'assistant_gateway.audio.format': 'wav',
    'assistant_gateway.audio.bytes': Number
  })
  const fileRoute = one(spansOf(fileCaller), 'POST /api/openai/files')
  const upload = one(spansOf(fileCaller), 'upload_file')
  t.equal(upload.parentSpanId, fileRoute.spanId)
  t.equal(upload.kind, CLIENT)
  t.match(upload.attributes, { 'gen_ai.provider.name': 'openai', 'assistant_gateway.file.purpose': 'user_data', 'assistant_gateway.file.media_type': 'text/plain', 'assistant_gateway.file.id': uploaded.body.id })

  const everything = JSON.stringify(receiver.spans.map(s => ({ name: s.name, attributes: s.attributes })))
  t.notOk(everything.includes(String(transcribed.body.text)), 'the transcript is on no span')
  t.notOk(everything.includes('Zanzibar-quokka-17'), 'nor the file names')
  t.notOk(receiver.spans.some(s => 'gen_ai.output.messages' in s.attributes), 'no output messages without the opt-in')
  t.same(sim.nonconforming(), [])
})

t.test('with content capture opted into, prompts and answers go on the spans, credentials redacted', async t => {
  const sim = await startSim(t)
  const receiver = await startOtlpReceiver(t)
  const hooks = await startWebhookTools(t)
  const agents = writeAgentsFile(tempDir(t), hooks.url)
  const gateway = await startGatewayProcess(t, testEnv(sim, otelEnv(receiver, {
    AGENTS_FILE: agents, TOOL_WEBHOOK_SECRET: WEBHOOK_SECRET, TOOL_WEBHOOK_ALLOWED_NETWORKS: '127.0.0.1', OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: 'true'
  })))
  const leaked = keyShaped('live-4f9a8b7c6d5e4f3a2b1c')
  const threadId = await thread(gateway.url, `Use my key [call:get_user_achievements {"limit":2,"note":"${leaked}"}]`)
  const caller = callerContext()
  const res = await fetch(`${gateway.url}/api/openai/threads/${threadId}/runs`, { method: 'POST', headers: { ...headers, traceparent: caller.traceparent }, body: JSON.stringify({ assistant_type: 'curator' }) })
  t.equal(res.status, 200)
  await until(() => receiver.spans.some(s => s.traceId === caller.traceId && s.name === 'invoke_agent curator'), { message: 'the run span to be exported' })
  const spans = receiver.spans.filter(s => s.traceId === caller.traceId)
  const tool = one(spans, 'execute_tool get_user_achievements')
  t.match(tool.attributes['gen_ai.tool.call.arguments'], '"note":"sk-[REDACTED]"', 'the tool\'s arguments, with the key redacted')
  t.match(tool.attributes['gen_ai.tool.call.result'], /invalid_arguments/)
  const answer = spans.find(s => s.name.startsWith('chat ') && s.attributes['assistant_gateway.round'] === 1)!
  t.match(answer.attributes['gen_ai.output.messages'], /"role":"assistant".*Tool result for call_/)
  t.match(answer.attributes['gen_ai.input.messages'], /"role":"tool".*invalid_arguments/)
  t.match(answer.attributes['gen_ai.system_instructions'], /"type":"text"/)
  t.notOk(JSON.stringify(receiver.spans).includes('4f9a8b7c6d5e4f3a2b1c'), 'the key itself is on no span')
  t.same(sim.nonconforming(), [])
})

t.test('a run resumed by another process after a crash continues the trace it started in', async t => {
  const sim = await startSim(t)
  const receiver = await startOtlpReceiver(t)
  const dir = tempDir(t)
  const dbPath = join(dir, 'gw.db')
  const env = testEnv(sim, otelEnv(receiver, { SQLITE_PATH: dbPath, RUN_LEASE_MS: '1000' }))
  const first = await startGatewayProcess(t, env)
  const threadId = await thread(first.url, 'Survive a crash [slow:2500]')
  const caller = callerContext()
  const started = await fetch(`${first.url}/api/openai/threads/${threadId}/runs`, {
    method: 'POST', headers: { ...headers, traceparent: caller.traceparent }, body: JSON.stringify({ assistant_type: 'mentor', wait: false })
  })
  t.equal(started.status, 202)
  const { id: runId } = await started.json() as { id: string }
  const store = createSqliteStore({ path: dbPath })
  t.teardown(() => store.close())
  const recorded = await until(async () => {
    const run = await store.getRun(runId)
    return run && run.response_ids.length > 0 && run
  }, { message: 'the first process to record its upstream response' })
  const route = await until(() => receiver.spans.find(s => s.traceId === caller.traceId && s.name === 'POST /api/openai/threads/:threadId/runs'), { message: 'the request span of the first process' })
  t.equal(recorded.trace_context, `00-${caller.traceId}-${route.spanId}-01`, 'the run keeps the trace context of the request that started it')
  first.child.kill('SIGKILL')
  await first.exited

  const second = await startGatewayProcess(t, env)
  const done = await (await fetch(`${second.url}/api/openai/threads/${threadId}/runs/${runId}?wait=20000`, { headers })).json() as { status: string }
  t.equal(done.status, 'completed')
  const resumed = await until(() => receiver.spans.find(s => s.name === 'invoke_agent mentor' && s.attributes['assistant_gateway.run.status'] === 'completed'), { message: 'the resumed run\'s span' })
  t.equal(resumed.traceId, caller.traceId, 'the resumed drive is in the trace the run started in')
  t.equal(resumed.parentSpanId, route.spanId, 'under the request that started the run')
  t.equal(resumed.attributes['assistant_gateway.run.resumed'], true)
  t.ok(resumed.links.some(l => l.traceId === caller.traceId && l.spanId === route.spanId && l.attributes['assistant_gateway.link'] === 'run.origin'), 'and linked to it')
  t.not(resumed.resource['service.instance.id'], route.resource['service.instance.id'], 'by another process')
  const chat = await until(() => receiver.spans.find(s => s.name === 'chat gpt-4.1' && s.parentSpanId === resumed.spanId), { message: 'the resumed response\'s span' })
  t.match(chat.attributes, { 'gen_ai.response.id': recorded.response_ids[0], 'assistant_gateway.response.resumed': true, 'gen_ai.usage.output_tokens': Number })
  t.equal(sim.counters()['POST /v1/responses'], 1, 'no second upstream response was started')
})

t.test('tracing off: nothing OpenTelemetry is loaded, and nothing is sent even with an endpoint named', async t => {
  const sim = await startSim(t)
  const receiver = await startOtlpReceiver(t)
  const gateway = await startGatewayProcess(t, testEnv(sim, otelEnv(receiver, { OTEL_SDK_DISABLED: 'true' })))
  const threadId = await thread(gateway.url, 'Hello there')
  const caller = callerContext()
  const res = await fetch(`${gateway.url}/api/openai/threads/${threadId}/runs`, { method: 'POST', headers: { ...headers, traceparent: caller.traceparent }, body: JSON.stringify({ assistant_type: 'mentor' }) })
  t.equal((await res.json() as { status: string }).status, 'completed')
  gateway.child.kill('SIGTERM')
  t.equal(await gateway.exited, 0, 'a graceful exit, which is when the SDK would flush')
  t.same(receiver.requests, [], 'the collector heard nothing')
  t.notOk(gateway.logs.join('').includes('trace_id'), 'no log line names a trace')

  // In this process: an app built without an endpoint has loaded no SDK module (they are CommonJS, so
  // they would be in the require cache), and the check sees one once it is loaded.
  const loaded = () => Object.keys(createRequire(import.meta.url).cache).filter(path => /@opentelemetry[\\/](sdk-|exporter-|resources)|@fastify[\\/]otel/.test(path))
  const app = await build(t, sim)
  const turn = await app.inject({ method: 'POST', url: '/api/openai/threads/runs', headers: bearer(TOKEN), payload: { assistant_id: 'mentor', thread: { messages: [{ role: 'user', content: 'Hi' }] } } })
  t.equal(turn.statusCode, 200)
  t.same(loaded(), [], 'no SDK, exporter or @fastify/otel module was loaded')
  await import('@opentelemetry/sdk-trace-node')
  t.ok(loaded().length > 0, 'the check does see a loaded SDK')
})
