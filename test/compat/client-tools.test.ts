import t from 'tap'
import { until } from '../helpers/until.ts'
import { all, checkRun, forEachSdk, setup } from './helpers.ts'
import { RUN_STEP_KEYS, hasEveryField, textOf } from './shapes.ts'

// Client tools as Assistants function tools were (requires_action → submitToolOutputs*) and run steps, through both SDKs.
const CLIENT_TOOL = 'get_learner_context'

forEachSdk(t, (test, factory) => {
  test('createAndPoll pauses in requires_action, submitToolOutputsAndPoll resumes; steps.list and steps.retrieve', async t => {
    const { sdk, sim } = await setup(t, factory)
    const thread = await sdk.threads.create({ messages: [{ role: 'user', content: `Where am I? [call:${CLIENT_TOOL} {}]` }] })
    const paused = await sdk.runs.createAndPoll(thread.id, { assistant_id: 'curator' })
    checkRun(t, paused, 'paused run')
    t.equal(paused.status, 'requires_action')
    t.type(paused.expires_at, 'number', 'a pause expires')
    t.match(paused.required_action, { type: 'submit_tool_outputs' })
    const calls = paused.required_action?.submit_tool_outputs.tool_calls ?? []
    t.equal(calls.length, 1)
    t.match(calls[0], { id: String, type: 'function', function: { name: CLIENT_TOOL, arguments: '{}' } })
    const callId = calls[0]?.id ?? ''

    const done = await sdk.runs.submitToolOutputsAndPoll(thread.id, paused.id, [{ tool_call_id: callId, output: 'lesson 7' }])
    checkRun(t, done, 'resumed run')
    t.match(done, { id: paused.id, status: 'completed', required_action: null })
    const [answer] = await all(sdk.messages.list(thread.id, { limit: 1 }))
    t.match(answer && textOf(answer), /lesson 7/, 'the answer read the output')

    const steps = await all(sdk.steps.list(thread.id, done.id, { order: 'asc', limit: 1 }))
    t.same(steps.map(step => step.type), ['tool_calls', 'message_creation'], 'a step per round, auto-paginated')
    for (const step of steps) {
      hasEveryField(t, step, RUN_STEP_KEYS, `${step.type} step`)
      t.match(step, { object: 'thread.run.step', run_id: done.id, thread_id: thread.id, status: 'completed' })
    }
    const [toolStep, messageStep] = steps
    if (toolStep?.step_details.type === 'tool_calls') {
      t.match(toolStep.step_details.tool_calls, [{ id: callId, type: 'function', function: { name: CLIENT_TOOL, arguments: '{}', output: 'lesson 7' } }])
    } else t.fail('a tool_calls step')
    if (messageStep?.step_details.type === 'message_creation') {
      t.equal(messageStep.step_details.message_creation.message_id, answer?.id, 'the message step names the answer')
    } else t.fail('a message_creation step')
    if (toolStep) t.same(await sdk.steps.retrieve(thread.id, done.id, toolStep.id), toolStep, 'steps.retrieve')
    t.same(sim.nonconforming(), [])
  })

  test('stream: toolCallCreated and thread.run.requires_action, then submitToolOutputsStream with textDelta', async t => {
    const { sdk, sim } = await setup(t, factory)
    const thread = await sdk.threads.create({ messages: [{ role: 'user', content: `And now? [call:${CLIENT_TOOL} {}]` }] })
    const seen: string[] = []
    const events: string[] = []
    const stream = sdk.runs.stream(thread.id, { assistant_id: 'curator' })
    stream.on('toolCallCreated', toolCall => { if (toolCall.type === 'function') seen.push(toolCall.function.name) })
    stream.on('event', event => { events.push(event.event) })
    const paused = await stream.finalRun()
    t.equal(paused.status, 'requires_action')
    t.same(seen, [CLIENT_TOOL], 'toolCallCreated saw the client call')
    t.equal(events.at(-1), 'thread.run.requires_action', 'the stream ends on thread.run.requires_action')

    let text = ''
    const callId = paused.required_action?.submit_tool_outputs.tool_calls[0]?.id ?? ''
    const resumed = sdk.runs.submitToolOutputsStream(thread.id, paused.id, [{ tool_call_id: callId, output: 'lesson 8' }])
    resumed.on('textDelta', delta => { text += delta.value ?? '' })
    const final = await resumed.finalRun()
    checkRun(t, final, 'resumed stream')
    t.equal(final.status, 'completed')
    t.match(text, /lesson 8/, 'textDelta streamed the answer that read the output')
    t.same(sim.nonconforming(), [])
  })

  test('a paused run can be cancelled', async t => {
    const { sdk, sim } = await setup(t, factory)
    const first = await sdk.threads.create({ messages: [{ role: 'user', content: `Cancel me [call:${CLIENT_TOOL} {}]` }] })
    const paused = await sdk.runs.createAndPoll(first.id, { assistant_id: 'curator' })
    t.equal(paused.status, 'requires_action')
    const cancelled = await sdk.runs.cancel(first.id, paused.id)
    t.ok(['cancelling', 'cancelled'].includes(cancelled.status))
    t.equal((await sdk.runs.poll(first.id, paused.id)).status, 'cancelled')
    t.same(sim.nonconforming(), [])
  })

  test('an unanswered pause expires', async t => {
    const { sdk, sim } = await setup(t, factory, { env: { RUN_REQUIRES_ACTION_TTL_MS: '1000' } })
    const second = await sdk.threads.create({ messages: [{ role: 'user', content: `Ignore me [call:${CLIENT_TOOL} {}]` }] })
    const waiting = await sdk.runs.createAndPoll(second.id, { assistant_id: 'curator' })
    // On a loaded machine the second may already have passed: either state is what poll() returns at once.
    t.ok(['requires_action', 'expired'].includes(waiting.status), `paused (${waiting.status})`)
    const { status } = await until(async () => {
      const run = await sdk.runs.retrieve(second.id, waiting.id)
      return run.status !== 'requires_action' && run
    }, { message: 'the unanswered run to leave requires_action' })
    // Only the TTL ends it: nothing answered, nothing cancelled.
    t.equal(status, 'expired', 'unanswered past RUN_REQUIRES_ACTION_TTL_MS')
    t.same(sim.nonconforming(), [])
  })
})
