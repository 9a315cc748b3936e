import t from 'tap'
import OpenAI from 'openai'
import type { ResponseStreamEvent } from 'openai/resources/responses/responses'
import { assertNoNonconforming, conformance, failure, poll, setup } from './helpers.ts'

type Event = ResponseStreamEvent & Record<string, unknown>

async function collect (stream: AsyncIterable<ResponseStreamEvent>, events: Event[] = []): Promise<Event[]> {
  for await (const event of stream) events.push(event as Event)
  return events
}

function deltas (events: Event[]): string {
  return events.filter((e) => e.type === 'response.output_text.delta').map((e) => e.delta).join('')
}

const TEXT_EVENTS = [
  'response.output_item.added',
  'response.content_part.added',
  'response.output_text.delta',
  'response.output_text.done',
  'response.content_part.done',
  'response.output_item.done'
]

/** Collapses repeated delta events so the order can be compared. */
function shape (events: Event[]): string[] {
  return events.map((e) => e.type).filter((type, i, all) => !(type === 'response.output_text.delta' && all[i - 1] === type))
}

t.test('streaming through the SDK', async (t) => {
  const { sim, openai } = await setup(t, { generationMs: 60, queueMs: 10 })

  t.test('a live stream: event order, sequence numbers, deltas = final text', async (t) => {
    const stream = await openai.responses.create({ model: 'gpt-4.1', input: 'Stream this please [len:40]', stream: true })
    const events = await collect(stream)
    t.same(shape(events), ['response.created', 'response.in_progress', ...TEXT_EVENTS, 'response.completed'])
    t.same(events.map((e) => e.sequence_number), events.map((_, i) => i), 'sequence numbers count up from 0')
    const textDeltas = events.filter((e) => e.type === 'response.output_text.delta')
    t.ok(textDeltas.length >= 5, 'several deltas')
    for (const d of textDeltas) t.match(d, { item_id: /^msg_/, output_index: 0, content_index: 0, logprobs: [] })
    const completed = events.at(-1) as Extract<ResponseStreamEvent, { type: 'response.completed' }>
    const message = completed.response.output[0]
    const finalText = message.type === 'message' && message.content[0].type === 'output_text' ? message.content[0].text : null
    t.equal(deltas(events), finalText, 'the deltas add up to the final text')
    t.equal(finalText?.split(' ').length, 40)
    const done = events.find((e) => e.type === 'response.output_text.done')
    t.equal(done?.text, finalText)
    for (const event of events) {
      const issues = conformance(sim, 'createResponse', event, 'text/event-stream')
      if (issues) t.fail(`${event.type} does not conform: ${JSON.stringify(issues)}`)
    }
    t.pass('every event conforms to the spec')
  })

  t.test('delta events carry obfuscation padding unless the stream is asked without it', async (t) => {
    const padded = await collect(await openai.responses.create({ model: 'gpt-4.1', input: 'Pad me [len:10]', background: true, stream: true }))
    const textDeltas = padded.filter((e) => e.type === 'response.output_text.delta')
    t.ok(textDeltas.length > 0 && textDeltas.every((e) => typeof e.obfuscation === 'string' && (e.obfuscation as string).length >= 8), 'every delta padded by default')
    t.ok(padded.filter((e) => !e.type.endsWith('.delta')).every((e) => e.obfuscation === undefined), 'other events are not')
    const before = sim.stats().obfuscatedStreams
    const plain = await collect(await openai.responses.create({ model: 'gpt-4.1', input: 'Do not pad [len:10]', stream: true, stream_options: { include_obfuscation: false } }))
    t.ok(plain.every((e) => e.obfuscation === undefined), 'stream_options.include_obfuscation: false turns it off')
    const id = (padded[0] as Extract<ResponseStreamEvent, { type: 'response.created' }>).response.id
    const replay = await collect(await openai.responses.retrieve(id, { stream: true, include_obfuscation: false }))
    t.ok(replay.length > 0 && replay.every((e) => e.obfuscation === undefined), 'so does include_obfuscation=false on a retrieve')
    t.equal(sim.stats().obfuscatedStreams, before, 'neither counted as a padded stream')
    for (const event of textDeltas) {
      const issues = conformance(sim, 'createResponse', event, 'text/event-stream')
      if (issues) t.fail(`a padded delta does not conform: ${JSON.stringify(issues)}`)
    }
  })

  t.test('a background stream can be replayed from the start', async (t) => {
    const stream = await openai.responses.create({ model: 'gpt-4.1', input: 'Background stream', background: true, stream: true })
    const live = await collect(stream)
    t.same(shape(live), ['response.created', 'response.queued', 'response.in_progress', ...TEXT_EVENTS, 'response.completed'])
    t.equal((live[0] as Extract<ResponseStreamEvent, { type: 'response.created' }>).response.status, 'queued')
    const id = (live[0] as Extract<ResponseStreamEvent, { type: 'response.created' }>).response.id
    const replay = await collect(await openai.responses.retrieve(id, { stream: true }))
    t.same(replay, live, 'retrieving with stream=true replays every event')
  })

  t.test('resume with starting_after after a truncated stream', async (t) => {
    sim.faults.add({ route: 'POST /v1/responses', kind: 'truncate-sse', afterEvents: 6 })
    const stream = await openai.responses.create({ model: 'gpt-4.1', input: 'Cut me off [len:30]', background: true, stream: true })
    const first: Event[] = []
    const error = await failure(collect(stream, first))
    t.ok(error, 'the SDK reports the dropped connection')
    t.equal(first.length, 6, 'the fault let six events through')
    const last = first.at(-1)?.sequence_number as number
    const id = (first[0] as Extract<ResponseStreamEvent, { type: 'response.created' }>).response.id

    const rest = await collect(await openai.responses.retrieve(id, { stream: true, starting_after: last }))
    t.equal(rest[0].sequence_number, last + 1, 'resumes right after the last event seen')
    t.equal(rest.at(-1)?.type, 'response.completed')
    const all = [...first, ...rest]
    t.same(all.map((e) => e.sequence_number), all.map((_, i) => i), 'nothing lost, nothing repeated')
    const final = await openai.responses.retrieve(id)
    t.equal(deltas(all), final.output_text)
  })

  t.test('the SDK stream helpers', async (t) => {
    const created = await openai.responses.create({ model: 'gpt-4.1', input: 'Helper [len:12]', background: true, stream: true })
    const events = await collect(created)
    const id = (events[0] as Extract<ResponseStreamEvent, { type: 'response.created' }>).response.id
    const resumed = await openai.responses.stream({ response_id: id, starting_after: 4 }).finalResponse()
    t.equal(resumed.status, 'completed')
    t.equal(resumed.output_text.split(' ').length, 12)

    const fresh = await openai.responses.stream({ model: 'gpt-4.1', input: 'Fresh helper' }).finalResponse()
    t.match(fresh.output_text, /^You said: "Fresh helper"/)
  })

  t.test('cancelling a streamed response ends the stream with the cancelled response', async (t) => {
    const conv = await openai.conversations.create()
    const stream = await openai.responses.create({ model: 'gpt-4.1', conversation: conv.id, input: 'Long [len:100] [slow:3000]', background: true, stream: true })
    const events: Event[] = []
    let id = ''
    for await (const event of stream) {
      events.push(event as Event)
      if (event.type === 'response.created') id = event.response.id
      if (event.type === 'response.output_text.delta') await openai.responses.cancel(id)
    }
    const last = events.at(-1) as Extract<ResponseStreamEvent, { type: 'response.incomplete' }>
    t.equal(last.type, 'response.incomplete', 'the final event is a lifecycle event the SDK knows')
    t.equal(last.response.status, 'cancelled')
    t.equal(events.filter((e) => e.type === 'response.output_text.delta').length, 1)
    const items = await openai.conversations.items.list(conv.id)
    t.same(items.data, [])

    const helper = openai.responses.stream({ response_id: last.response.id })
    const final = await helper.finalResponse()
    t.equal(final.status, 'cancelled', 'the helper accepts the cancelled stream too')
  })

  t.test('only background streamed responses can be streamed on retrieve', async (t) => {
    const r = await openai.responses.create({ model: 'gpt-4.1', input: 'x', background: true })
    await poll(openai, r.id)
    const refused = await failure(openai.responses.retrieve(r.id, { stream: true }))
    t.type(refused, OpenAI.BadRequestError)
    t.match(refused, { param: 'stream' })
  })

  t.test('no nonconforming requests', async (t) => assertNoNonconforming(t, sim))
})
