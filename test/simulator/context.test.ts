import t from 'tap'
import OpenAI from 'openai'
import { toResponseInputItems } from 'openai/lib/responses/ResponseInputItems'
import type { Response as OpenAIResponse, ResponseStreamEvent } from 'openai/resources/responses/responses'
import { assertNoNonconforming, conformance, failure, poll, setup, weatherTool, wire } from './helpers.ts'

const tokens = (text: string) => Math.ceil(text.length / 4)
const INSTRUCTIONS = 'Answer briefly.'

type Policy = Pick<OpenAI.Responses.ResponseCreateParams, 'truncation' | 'context_management'>

/** A thread of `turns` user messages in one conversation; each answer is `[len:words]` long. */
async function thread (openai: OpenAI, turns: number, words: number, policy: Policy = {}) {
  const conv = await openai.conversations.create()
  const responses: OpenAIResponse[] = []
  for (let i = 0; i < turns; i++) {
    const created = await openai.responses.create({
      model: 'gpt-5.5',
      instructions: INSTRUCTIONS,
      conversation: conv.id,
      input: `Turn ${i} [len:${words}]`,
      background: true,
      store: true,
      ...policy
    })
    responses.push(await poll(openai, created.id))
  }
  return { conv, responses }
}

t.test('usage and context management', async (t) => {
  const { sim, openai } = await setup(t, { generationMs: 5, queueMs: 1 })

  t.test('without a policy, every turn re-reads the whole conversation', async (t) => {
    const { responses } = await thread(openai, 6, 120)
    for (let i = 1; i < responses.length; i++) {
      const [prev, next] = [responses[i - 1].usage!, responses[i].usage!]
      t.equal(next.input_tokens, prev.input_tokens + prev.output_tokens + tokens(`Turn ${i} [len:120]`), `turn ${i} reads turn ${i - 1}'s input and answer again`)
    }
    t.equal(responses[0].usage?.input_tokens, tokens(INSTRUCTIONS) + tokens('Turn 0 [len:120]'))
  })

  t.test('compaction keeps input bounded: the older context becomes one summary item', async (t) => {
    const policy: Policy = { context_management: [{ type: 'compaction', compact_threshold: 1000 }] }
    const { conv, responses } = await thread(openai, 12, 200, policy)
    const { responses: plain } = await thread(openai, 12, 200)
    const compacted = responses.filter((r) => r.output[0].type === 'compaction')
    t.ok(compacted.length >= 2, `compaction ran more than once over 12 turns (${compacted.length})`)
    for (const r of responses) {
      t.ok(r.usage!.input_tokens <= 1000 + r.usage!.output_tokens + 50, `input stays near the threshold (${r.usage!.input_tokens})`)
    }
    t.ok(plain.at(-1)!.usage!.input_tokens > 2 * responses.at(-1)!.usage!.input_tokens, 'while the same thread without a policy keeps growing')

    const first = compacted[0]
    const at = responses.indexOf(first)
    const item = first.output[0] as { id: string, type: string, encrypted_content: string }
    t.match(item, { type: 'compaction', id: /^cmp_[0-9a-f]{48}$/, encrypted_content: String })
    t.equal(first.output[1].type, 'message', 'the answer follows the compaction item')
    t.equal(first.usage!.input_tokens, tokens(INSTRUCTIONS) + 200 + tokens(`Turn ${at} [len:200]`), 'the older context costs 200 tokens once compacted')
    const after = responses[at + 1]
    t.equal(after.output[0].type, 'message')
    t.equal(after.usage!.input_tokens, tokens(INSTRUCTIONS) + 200 + first.usage!.output_tokens + tokens(`Turn ${at + 1} [len:200]`),
      'the next turn reads from the compaction item on')
    t.equal(conformance(sim, 'getResponse', wire(first)), null, 'a response with a compaction item conforms')

    const items = await openai.conversations.items.list(conv.id, { order: 'asc', limit: 100 })
    t.ok(items.data.some((i) => i.id === item.id), 'the compaction item is kept in the conversation')
    t.equal(items.data.filter((i) => i.type === 'message').length, 24, 'no message is deleted: compaction changes what is read, not what is stored')
    t.equal(conformance(sim, 'listConversationItems', await openai.get(`/conversations/${conv.id}/items`, { query: { order: 'asc', limit: 100 } })), null)
  })

  t.test('a compaction item is streamed like any output item', async (t) => {
    const conv = await openai.conversations.create({ items: [{ role: 'user', content: 'x'.repeat(6000) }] })
    const stream = await openai.responses.create({
      model: 'gpt-5.5', conversation: conv.id, input: 'Go on', stream: true, context_management: [{ type: 'compaction', compact_threshold: 1000 }]
    })
    const events: ResponseStreamEvent[] = []
    for await (const event of stream) events.push(event)
    t.match(events.slice(2, 4), [{ type: 'response.output_item.added', output_index: 0, item: { type: 'compaction' } }, { type: 'response.output_item.done', output_index: 0 }])
    t.match(events.at(-1), { type: 'response.completed', response: { output: [{ type: 'compaction' }, { type: 'message' }] } })
    for (const event of events) t.equal(conformance(sim, 'createResponse', event, 'text/event-stream'), null, `${event.type} conforms`)
  })

  t.test('stateless: the older input is compacted, and a replayed compaction item cuts what is read before it', async (t) => {
    const policy = { context_management: [{ type: 'compaction', compact_threshold: 1000 }] }
    const big = 'y'.repeat(8000)
    const history: OpenAI.Responses.ResponseInputItem[] = [{ role: 'user', content: big }]
    const first = await openai.responses.create({ model: 'gpt-5.5', store: false, input: history, ...policy })
    t.equal(first.output[0].type, 'message', 'the current turn itself is never compacted')
    t.equal(first.usage!.input_tokens, tokens(big))

    history.push(...toResponseInputItems(first.output), { role: 'user', content: 'Next' })
    const second = await openai.responses.create({ model: 'gpt-5.5', store: false, input: history, ...policy })
    t.equal(second.output[0].type, 'compaction', 'the turns before the latest user message are compacted')
    t.equal(second.usage!.input_tokens, 200 + tokens('Next'))

    history.push(...toResponseInputItems(second.output), { role: 'user', content: 'Third' })
    const third = await openai.responses.create({ model: 'gpt-5.5', store: false, input: history, ...policy })
    t.equal(third.output[0].type, 'message', 'under the threshold again')
    t.equal(third.usage!.input_tokens, 200 + second.usage!.output_tokens + tokens('Third'), 'what was sent before the compaction item is not read')
  })

  t.test('truncation auto caps input at the context window; without it the request is refused', async (t) => {
    sim.configure({ contextWindowTokens: 1500 })
    t.teardown(() => sim.configure({ contextWindowTokens: 400_000 }))
    const { conv, responses } = await thread(openai, 10, 120, { truncation: 'auto' })
    for (const r of responses) t.ok(r.usage!.input_tokens <= 1500, `input within the window (${r.usage!.input_tokens})`)
    t.ok(responses.at(-1)!.usage!.input_tokens > 1000, 'and close to it: only the oldest items were dropped')

    const refused = await failure(openai.responses.create({ model: 'gpt-5.5', instructions: INSTRUCTIONS, conversation: conv.id, input: 'More', background: true }))
    t.type(refused, OpenAI.BadRequestError)
    t.match(refused, { status: 400, code: 'context_length_exceeded', param: 'input', message: 'Your input exceeds the context window of this model. Please adjust your input and try again.' })

    const alone = await failure(openai.responses.create({ model: 'gpt-5.5', input: 'z'.repeat(7000), truncation: 'auto' }))
    t.match(alone, { status: 400, code: 'context_length_exceeded' }, 'an input that alone exceeds the window cannot be truncated')
  })

  t.test('prompt caching: the instructions+tools prefix is cached per model and prompt_cache_key', async (t) => {
    const long = 'Follow the house style. '.repeat(200)
    const prefix = tokens(long) + tokens(JSON.stringify([weatherTool]))
    t.ok(prefix >= 1024)
    const ask = (extra: Partial<OpenAI.Responses.ResponseCreateParamsNonStreaming> = {}) =>
      openai.responses.create({ model: 'gpt-5.5', instructions: long, tools: [weatherTool], input: 'Hi', prompt_cache_key: 'profile-a', ...extra })
    const details = (r: OpenAIResponse) => r.usage!.input_tokens_details

    const first = await ask()
    t.same(details(first), { cached_tokens: 0, cache_write_tokens: prefix, cache_write_tokens_details: { ttl_30m_tokens: prefix, ttl_12h_tokens: 0 } }, 'the first request writes the prefix')
    const second = await ask({ input: 'Something else entirely' })
    t.same(details(second), { cached_tokens: prefix, cache_write_tokens: 0, cache_write_tokens_details: { ttl_30m_tokens: 0, ttl_12h_tokens: 0 } }, 'the next one with the same key reads it')
    t.equal(second.usage!.input_tokens, prefix + tokens('Something else entirely'), 'cached tokens are part of input_tokens')
    t.equal(conformance(sim, 'getResponse', wire(second)), null)

    t.equal(details(await ask({ prompt_cache_key: 'profile-b' })).cache_write_tokens, prefix, 'another key is another cache')
    t.equal(details(await ask({ model: 'gpt-4.1' })).cache_write_tokens, prefix, 'another model too')
    t.equal(details(await ask({ tools: [] })).cache_write_tokens, tokens(long), 'other tools make another prefix')
    t.equal(details(await ask({ prompt_cache_key: undefined })).cache_write_tokens, prefix, 'no key is its own bucket…')
    t.equal(details(await ask({ prompt_cache_key: undefined })).cached_tokens, prefix, '…shared by every request without one')
    t.same(details(await ask({ prompt_cache_key: 'profile-c', prompt_cache_retention: '24h' })).cache_write_tokens_details, { ttl_30m_tokens: 0, ttl_12h_tokens: prefix })

    const short = { model: 'gpt-5.5', instructions: 'Short.', input: 'Hi', prompt_cache_key: 'k' }
    await openai.responses.create(short)
    t.same(details(await openai.responses.create(short)), { cached_tokens: 0, cache_write_tokens: 0, cache_write_tokens_details: { ttl_30m_tokens: 0, ttl_12h_tokens: 0 } }, 'a prefix under 1024 tokens is never cached')
    sim.configure({ promptCacheMinTokens: 1 })
    t.teardown(() => sim.configure({ promptCacheMinTokens: 1024 }))
    await openai.responses.create(short)
    t.equal(details(await openai.responses.create(short)).cached_tokens, tokens('Short.'), 'the minimum is configurable')
  })

  t.test('no nonconforming requests', async (t) => assertNoNonconforming(t, sim))
})
