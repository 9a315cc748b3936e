import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { build, startSim } from '../helpers/build.ts'
import { bearer, userToken } from '../helpers/tokens.ts'
import { until } from '../helpers/until.ts'
import { form, type FormPart } from '../fixtures/form.ts'
import { media } from '../fixtures/samples.ts'

const alice = bearer(userToken('alice'))
const UPSTREAM = 'POST /v1/audio/transcriptions'

function transcribe (app: FastifyInstance, parts: FormPart[]) {
  const body = form(parts)
  return app.inject({ method: 'POST', url: '/api/openai/audio/transcriptions', headers: { ...alice, ...body.headers }, payload: body.payload })
}

/**
 * 40 KB of fragmented MP4 (its container states no length): reserved at the duration the client declares,
 * settled to what whisper-1 reports (the simulator hears 16 000 bytes a second: 3 s).
 */
const clip = Buffer.concat([media('tone-frag.mp4'), Buffer.alloc(40_000 - media('tone-frag.mp4').length)])
const declaring = (seconds: number): FormPart[] => [{ name: 'audio', filename: 'clip.mp4', data: clip }, { name: 'duration', value: String(seconds) }]

t.test('audio held by a transcription in flight: the next one waits for it to settle instead of being sent to midnight', async t => {
  const sim = await startSim(t)
  const app = await build(t, sim, { env: { BUDGET_USER_DAILY_AUDIO_SECONDS: '10', TRANSCRIPTION_MODEL: 'whisper-1' } })
  sim.faults.add({ route: UPSTREAM, kind: 'latency', ms: 600, times: 1 })
  const first = transcribe(app, declaring(8))
  await until(async () => (await app.budgets.usageFor('alice')).reserved.audio_seconds === 8, { message: 'the first reservation' })
  const second = await transcribe(app, declaring(6))
  t.equal(second.statusCode, 200, '8 + 6 reserved would not fit; once the first settled at 3 s, 3 + 6 does')
  t.equal((await first).statusCode, 200)
  const usage = await app.budgets.usageFor('alice')
  t.equal(usage.audio_seconds, 6, 'each charged what whisper-1 reported')
  t.equal(usage.reserved.audio_seconds, 0)
  t.equal(sim.counters()[UPSTREAM], 2)
  t.same(sim.nonconforming(), [])
})

t.test('without a wait (BUDGET_WAIT_MS=0): 429 with a Retry-After of seconds while the audio is held, to the reset once it is used', async t => {
  const sim = await startSim(t)
  const app = await build(t, sim, { env: { BUDGET_USER_DAILY_AUDIO_SECONDS: '10', TRANSCRIPTION_MODEL: 'whisper-1', BUDGET_WAIT_MS: '0' } })
  sim.faults.add({ route: UPSTREAM, kind: 'latency', ms: 600, times: 1 })
  const first = transcribe(app, declaring(8))
  await until(async () => (await app.budgets.usageFor('alice')).reserved.audio_seconds === 8, { message: 'the first reservation' })
  const held = await transcribe(app, declaring(6))
  t.equal(held.statusCode, 429)
  t.match(held.json(), { code: 'BUDGET_EXCEEDED', message: /held by your transcriptions in progress/ })
  t.equal(held.headers['retry-after'], '2')
  t.not(held.headers['x-should-retry'], 'false')
  t.equal((await first).statusCode, 200)

  t.equal((await transcribe(app, declaring(6))).statusCode, 200, 'retried after the first settled: 3 + 6 fits')
  const spent = await transcribe(app, declaring(6))
  t.equal(spent.statusCode, 429, 'now settled usage (6 s) leaves no room for 6 more')
  t.match(spent.json().message, /used up; it resets at/)
  t.ok(Number(spent.headers['retry-after']) > 60)
  t.equal(spent.headers['x-should-retry'], 'false')
  t.equal(sim.counters()[UPSTREAM], 2, 'nothing refused went upstream')
})
