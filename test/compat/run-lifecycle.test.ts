import t from 'tap'
import { forEachSdk, setup, refusal, all, upstreamResponses, checkRun, RUNS, ONE_RUN, collect, checkStream } from './helpers.ts'
import { textOf } from './shapes.ts'

// Runs over time: cancel, poll, createAndPoll, threads.createAndRun and createAndRunPoll, the AssistantStream helpers, and a failed run that is neither thrown nor retried.
forEachSdk(t, (test, factory) => {
  test('runs.create answers while the run is still going, as the Assistants API did; runs.cancel then cancels it, and poll sees it cancelled', async t => {
    // RUN_WAIT_TIMEOUT_MS as configured by default (50 s), longer than this run: only the Assistants semantics make create answer first.
    const { sdk, sim, wire } = await setup(t, factory)
    const thread = await sdk.threads.create({ messages: [{ role: 'user', content: 'Take your time [slow:20000]' }] })
    const mark = wire.mark()
    const run = await sdk.runs.create(thread.id, { assistant_id: 'mentor' })
    t.ok(['queued', 'in_progress'].includes(run.status), `create answered with the run still going (${run.status})`)
    const created = wire.since(mark).filter(e => e.method === 'POST' && RUNS.test(e.path))
    t.same(created.map(e => e.status), [202], 'one POST, answered 202')
    t.equal(created[0]?.resHeaders.location, `/api/openai/threads/${thread.id}/runs/${run.id}`, 'with the run\'s Location')
    const cancelling = await sdk.runs.cancel(thread.id, run.id)
    t.ok(['cancelling', 'cancelled'].includes(cancelling.status), `cancel answers the run (${cancelling.status})`)
    const cancel = wire.entries.find(e => e.method === 'POST' && e.path.endsWith('/cancel'))
    t.equal(cancel?.status, 200, 'the SDK\'s bodiless cancel is answered 200')
    const ended = await sdk.runs.poll(thread.id, run.id)
    checkRun(t, ended, 'cancelled run')
    t.equal(ended.status, 'cancelled')
    t.type(ended.cancelled_at, 'number')
    t.ok((sim.counters()['POST /v1/responses/{response_id}/cancel'] ?? 0) >= 1, 'cancelled upstream')
    t.same(sim.nonconforming(), [])
  })
  test('runs.poll and createAndPoll see the end promptly: openai-poll-after-ms on every run read, few GETs', async t => {
    const { sdk, sim, wire } = await setup(t, factory)
    const thread = await sdk.threads.create({ messages: [{ role: 'user', content: 'Think a little [slow:1000]' }] })
    let mark = wire.mark()
    const run = await sdk.runs.create(thread.id, { assistant_id: 'mentor' })
    t.ok(['queued', 'in_progress'].includes(run.status), `202 with the run still going (${run.status})`)
    const accepted = wire.since(mark).find(e => e.method === 'POST' && RUNS.test(e.path))
    t.equal(accepted?.status, 202)
    t.ok(Number(accepted?.resHeaders['openai-poll-after-ms']) > 0, 'the 202 carries openai-poll-after-ms')

    mark = wire.mark()
    const ended = await sdk.runs.poll(thread.id, run.id)
    t.equal(ended.status, 'completed')
    const reads = wire.since(mark).filter(e => e.method === 'GET' && ONE_RUN.test(e.path))
    t.ok(reads.length >= 1 && reads.length <= 20, `a handful of reads (${reads.length}), not a busy loop`)
    t.ok(reads.every(read => read.headers['x-stainless-poll-helper'] === 'true'), 'the SDK says it is polling')
    // poll() stops at the first ended run, so every read but the last answered a running one: each must have
    // told the SDK to come back within 100 ms (or the last one was a server-side long-poll that ended with the run).
    for (const read of reads.slice(0, -1)) {
      const after = Number(read.resHeaders['openai-poll-after-ms'])
      t.ok(after > 0 && after <= 100, `a read of the running run says come back within 100 ms (${read.resHeaders['openai-poll-after-ms']})`)
    }

    const other = await sdk.threads.create({ messages: [{ role: 'user', content: 'And again [slow:600]' }] })
    mark = wire.mark()
    const polled = await sdk.runs.createAndPoll(other.id, { assistant_id: 'mentor' })
    checkRun(t, polled, 'createAndPoll')
    t.equal(polled.status, 'completed')
    const more = wire.since(mark).filter(e => e.method === 'GET' && ONE_RUN.test(e.path))
    t.ok(more.length >= 1 && more.length <= 20, `createAndPoll: a handful of reads (${more.length})`)
    t.ok(more.slice(0, -1).every(e => Number(e.resHeaders['openai-poll-after-ms']) <= 100), 'each read of the running run with a short openai-poll-after-ms')
    t.same(sim.nonconforming(), [])
  })
  test('createAndPoll on a quick run, threads.createAndRun and createAndRunPoll', async t => {
    const { sdk, sim, wire } = await setup(t, factory)
    const thread = await sdk.threads.create({ messages: [{ role: 'user', content: 'Quick one' }] })
    const mark = wire.mark()
    const quick = await sdk.runs.createAndPoll(thread.id, { assistant_id: 'mentor' })
    t.equal(quick.status, 'completed')
    t.equal(wire.since(mark).filter(e => e.method === 'POST' && RUNS.test(e.path)).length, 1, 'one run created')
    t.equal(wire.since(mark).filter(e => e.method === 'GET' && ONE_RUN.test(e.path)).length, 1, 'it came back ended: one read confirms it')

    const started = await sdk.threads.createAndRun({
      assistant_id: 'mentor',
      thread: { messages: [{ role: 'user', content: 'Started with createAndRun' }], metadata: { via: 'createAndRun' } },
      metadata: { kind: 'first' }
    })
    checkRun(t, started, 'createAndRun')
    t.match(started, { status: 'queued', assistant_id: 'mentor', metadata: { kind: 'first' } }, 'createAndRun answers at once, the run queued')
    t.ok(wire.entries.some(e => e.method === 'POST' && e.path === '/api/openai/threads/runs' && e.status === 202), 'POST /threads/runs')
    const run = await sdk.runs.poll(started.thread_id, started.id)
    t.match(run, { status: 'completed', assistant_id: 'mentor', metadata: { kind: 'first' } })
    const created = await sdk.threads.retrieve(run.thread_id)
    t.same(created.metadata, { via: 'createAndRun' }, 'the thread got its metadata')
    const texts = (await all(sdk.messages.list(run.thread_id, { order: 'asc' }))).map(m => [m.role, textOf(m)])
    t.same(texts[0], ['user', 'Started with createAndRun'])
    t.match(texts[1], ['assistant', /Started with createAndRun/])

    const polled = await sdk.threads.createAndRunPoll({ assistant_id: 'curator', thread: { messages: [{ role: 'user', content: 'And createAndRunPoll' }] } })
    checkRun(t, polled, 'createAndRunPoll')
    t.match(polled, { status: 'completed', assistant_id: 'curator' })
    t.not(polled.thread_id, run.thread_id, 'a thread of its own')
    t.same(sim.nonconforming(), [])
  })
  test('a failed run is a run with status failed, not an error, and one upstream response (create then poll, createAndPoll, stream)', async t => {
    const { sdk, sim, wire } = await setup(t, factory)
    const thread = await sdk.threads.create({ messages: [{ role: 'user', content: 'Break please [fail]' }] })
    let before = upstreamResponses(sim)
    let mark = wire.mark()
    const started = await sdk.runs.create(thread.id, { assistant_id: 'mentor' })
    const run = await sdk.runs.poll(thread.id, started.id)
    checkRun(t, run, 'failed run')
    t.equal(run.status, 'failed')
    t.match(run.last_error, { code: String, message: String })
    t.type(run.failed_at, 'number')
    t.equal(upstreamResponses(sim) - before, 1, 'exactly one upstream response')
    t.equal(wire.since(mark).filter(e => e.method === 'POST' && RUNS.test(e.path)).length, 1, 'one POST: nothing to retry')

    const other = await sdk.threads.create({ messages: [{ role: 'user', content: 'Break again [fail]' }] })
    before = upstreamResponses(sim)
    mark = wire.mark()
    const polled = await sdk.runs.createAndPoll(other.id, { assistant_id: 'mentor' })
    t.equal(polled.status, 'failed', 'createAndPoll returns the failed run')
    t.equal(upstreamResponses(sim) - before, 1)
    t.equal(wire.since(mark).filter(e => e.method === 'POST' && RUNS.test(e.path)).length, 1)

    const third = await sdk.threads.create({ messages: [{ role: 'user', content: 'Stream a failure [fail]' }] })
    before = upstreamResponses(sim)
    const events: string[] = []
    const stream = sdk.runs.stream(third.id, { assistant_id: 'mentor' })
    stream.on('event', event => { events.push(event.event) })
    const final = await stream.finalRun()
    t.equal(final.status, 'failed', 'a stream\'s finalRun() is the failed run')
    t.ok(events.includes('thread.run.failed'), 'thread.run.failed was streamed')
    t.equal(upstreamResponses(sim) - before, 1)
    t.same(sim.nonconforming(), [])
  })

  test('streams: runs.stream, runs.createAndStream and threads.createAndRunStream with the AssistantStream helpers', async t => {
    const { sdk, sim } = await setup(t, factory)
    const thread = await sdk.threads.create({ messages: [{ role: 'user', content: 'Stream me an answer' }] })
    const streamed = await collect(sdk.runs.stream(thread.id, { assistant_id: 'mentor' }))
    checkStream(t, streamed, 'runs.stream')
    const [stored] = await all(sdk.messages.list(thread.id, { limit: 1 }))
    t.equal(stored?.id, streamed.done[0]?.id, 'the streamed message is the one in the thread')
    t.equal(stored && textOf(stored), streamed.deltas.join(''), 'with the streamed text')
    t.same(await sdk.runs.retrieve(thread.id, streamed.run.id), streamed.run, 'finalRun() is the stored run')

    const again = await collect(sdk.runs.createAndStream(thread.id, { assistant_id: 'curator' }))
    checkStream(t, again, 'runs.createAndStream')

    const fresh = await collect(sdk.threads.createAndRunStream({ assistant_id: 'mentor', thread: { messages: [{ role: 'user', content: 'New thread, streamed' }] } }))
    checkStream(t, fresh, 'threads.createAndRunStream')
    t.match(fresh.done[0] && textOf(fresh.done[0]), /New thread, streamed/)
    t.not(fresh.run.thread_id, thread.id)
    t.same(sim.nonconforming(), [])
  })

  test('a busy thread: a new message while a run is active is the SDK\'s ConflictError with THREAD_BUSY', async t => {
    const { sdk, sim, wire } = await setup(t, factory, { env: { RUN_WAIT_TIMEOUT_MS: '100' } })
    const thread = await sdk.threads.create({ messages: [{ role: 'user', content: 'Busy for a while [slow:15000]' }] })
    const run = await sdk.runs.create(thread.id, { assistant_id: 'mentor' })
    t.ok(['queued', 'in_progress'].includes(run.status))
    const mark = wire.mark()
    const message = await refusal(t, sdk.messages.create(thread.id, { role: 'user', content: 'more' }), sdk.errors.ConflictError, 'a message')
    t.equal(message.code, 'THREAD_BUSY')
    // The SDK retries a 409 (twice by default, after its Retry-After) unless told x-should-retry: false;
    // whether it should here is the contract's call, so the count is reported, not asserted.
    t.comment(`${sdk.name}: ${wire.since(mark).length} attempt(s) before the ConflictError`)
    await sdk.runs.cancel(thread.id, run.id)
    t.same(sim.nonconforming(), [])
  })

  test('a stream the SPA abandons: the run goes on and its answer lands in the thread', async t => {
    const { sdk, sim } = await setup(t, factory)
    const thread = await sdk.threads.create({ messages: [{ role: 'user', content: 'Answer even if I leave [slow:800]' }] })
    const stream = sdk.runs.stream(thread.id, { assistant_id: 'mentor' })
    let runId = ''
    await new Promise<void>((resolve, reject) => {
      stream.on('event', event => { if (event.event === 'thread.run.created') runId = (event.data as { id: string }).id })
      stream.on('textDelta', () => { stream.abort(); resolve() })
      stream.on('end', () => resolve())
      stream.finalRun().catch(() => {}).then(() => resolve(), reject)
    })
    t.match(runId, /^run_/, 'the run had started')
    const ended = await sdk.runs.poll(thread.id, runId)
    t.equal(ended.status, 'completed', 'the run ended by itself')
    const [answer] = await all(sdk.messages.list(thread.id, { limit: 1 }))
    t.match(answer, { role: 'assistant', run_id: runId, status: 'completed' })
    t.match(answer && textOf(answer), /Answer even if I leave/)
    t.same(sim.nonconforming(), [])
  })
})
