import t, { type Test } from 'tap'
import { userToken } from '../helpers/tokens.ts'
import { until } from '../helpers/until.ts'
import { wav } from '../fixtures/samples.ts'
import { agentsFileWith } from './agents.ts'
import { startCompat, type CompatGateway } from './gateway.ts'

/**
 * The seed SPA's own requests, byte for byte as its reports show them (../shared/seeds/*.md): after its
 * "stage 5" migration it stopped using the SDK and sent these with its api client — JSON with
 * `Authorization: Bearer <JWT>`, the Assistants-era `asst_…` ids from its configuration as `assistant_id`,
 * and a FormData upload for the microphone.
 */

// The SPA's configured ids (VITE_*_ASSISTANT_ID), which an operator lists as aliases of the profiles.
const SEED_IDS = { curator: 'asst_Kq7ZpD2mXv9RtL4sN8wB3cYe', mentor: 'asst_Hn3VbT6yQw1PzK8mR5dJ2aLx', analyst: 'asst_Ur9FsE4gW7kC2xM6pB1tN3qZ' }

const token = userToken('seed-user')

async function setup (t: Test, env: Record<string, string> = {}): Promise<CompatGateway> {
  const AGENTS_FILE = agentsFileWith(t, Object.fromEntries(Object.entries(SEED_IDS).map(([id, alias]) => [id, { aliases: [alias] }])))
  return startCompat(t, { env: { AGENTS_FILE, ...env } })
}

/** The seed's apiClient: JSON, the JWT, nothing else. */
async function api (gateway: CompatGateway, method: string, path: string, body?: unknown) {
  const res = await fetch(`${gateway.baseURL}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(30_000)
  })
  return { status: res.status, headers: res.headers, body: await res.json() as Record<string, any> }
}

t.test('the seed SPA\'s turn: thread, message, run { assistant_id: asst_…, temperature: 0.4, top_p: 0.8 } answered completed in one request, then the messages', async t => {
  const gateway = await setup(t)
  const thread = await api(gateway, 'POST', '/threads', {})
  t.equal(thread.status, 201)
  const threadId = thread.body.id as string
  const message = await api(gateway, 'POST', `/threads/${threadId}/messages`, { role: 'user', content: 'Финальный тест с polling на Backend!' })
  t.equal(message.status, 201)

  const run = await api(gateway, 'POST', `/threads/${threadId}/runs`, { assistant_id: SEED_IDS.curator, temperature: 0.4, top_p: 0.8 })
  t.equal(run.status, 200, 'the alias resolves and the run is waited for')
  t.match(run.body, { object: 'thread.run', status: 'completed', assistant_type: 'curator', temperature: 0.4, top_p: 0.8 })
  t.ok([SEED_IDS.curator, 'curator'].includes(run.body.assistant_id), `assistant_id is the alias sent or the profile (${run.body.assistant_id})`)
  const [upstream] = gateway.sim.requestLog().map(e => e.response_id && gateway.sim.peek.response(e.response_id))
  t.match(upstream, { temperature: 0.4, top_p: 0.8, model: 'gpt-4.1-mini' }, 'sampling forwarded to the curator\'s model')

  const polled = await api(gateway, 'GET', `/threads/${threadId}/runs/${run.body.id}`)
  t.match(polled.body, { id: run.body.id, status: 'completed' }, 'its status read (the SPA\'s old polling) agrees')
  const messages = await api(gateway, 'GET', `/threads/${threadId}/messages`)
  t.equal(messages.status, 200)
  t.match(messages.body.data[0], { role: 'assistant', run_id: run.body.id, content: [{ type: 'text', text: { value: /Финальный тест/ } }] }, 'the answer, newest first')

  for (const [assistant, alias] of Object.entries(SEED_IDS)) {
    const other = await api(gateway, 'POST', '/threads', { messages: [{ role: 'user', content: `hello ${assistant}` }] })
    const started = await api(gateway, 'POST', `/threads/${other.body.id}/runs`, { assistant_id: alias, temperature: 0.4, top_p: 0.8 })
    t.equal(started.status, 200, `${alias} runs`)
    t.equal(started.body.assistant_type, assistant, `${alias} is the ${assistant}`)
  }
  t.same(gateway.sim.nonconforming(), [])
})

t.test('the seed SPA\'s polling loop before its fix: 202, then GET the run every 500 ms until it ends', async t => {
  const gateway = await setup(t, { RUN_WAIT_TIMEOUT_MS: '100' })
  const thread = await api(gateway, 'POST', '/threads', { messages: [{ role: 'user', content: 'Think first [slow:1200]' }] })
  const run = await api(gateway, 'POST', `/threads/${thread.body.id}/runs`, { assistant_id: SEED_IDS.mentor, temperature: 0.4, top_p: 0.8 })
  t.equal(run.status, 202)
  t.ok(['queued', 'in_progress'].includes(run.body.status))
  const ended = await until(async () => {
    const read = await api(gateway, 'GET', `/threads/${thread.body.id}/runs/${run.body.id}`)
    return read.body.status === 'queued' || read.body.status === 'in_progress' ? null : read.body
  }, { intervalMs: 500, message: 'the run to end, polled as the seed SPA did' })
  t.equal(ended.status, 'completed')
  t.same(gateway.sim.nonconforming(), [])
})

t.test('the seed SPA\'s microphone: FormData with audio and language ru, only the Authorization header', async t => {
  const gateway = await startCompat(t)
  const form = new FormData()
  form.append('audio', new Blob([new Uint8Array(wav({ seconds: 0.5 }))], { type: 'audio/wav' }), 'recording.wav')
  form.append('language', 'ru')
  const res = await fetch(`${gateway.baseURL}/audio/transcriptions`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: form })
  t.equal(res.status, 200)
  const body = await res.json() as Record<string, unknown>
  t.match(body, { text: /^Transcript [0-9a-f]{8} of .* \[ru\]$/, language: 'ru', model: 'gpt-transcribe' })
  t.equal(gateway.sim.counters()['POST /v1/audio/transcriptions'], 1)
  t.same(gateway.sim.nonconforming(), [])
})
