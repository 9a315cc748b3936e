import t from 'tap'
import { forEachSdk, setup, refusal, all, upstreamOf } from './helpers.ts'
import { ASSISTANT_KEYS, FUNCTION_KEYS, hasEveryField } from './shapes.ts'

// beta.assistants: the user view, the admin view and admin writes.
// tool_resources has a test of its own below, so that its absence (a gap) does not hide the rest.
const WITHOUT_TOOL_RESOURCES = ASSISTANT_KEYS.filter(k => k !== 'tool_resources')

forEachSdk(t, (test, factory) => {
  test('assistants: list and retrieve as a user, create, update and delete as an admin; a user is refused', async t => {
    const ctx = await setup(t, factory)
    const { sdk, admin, sim } = ctx
    const listed = await all(sdk.assistants.list())
    t.same(listed.map(a => a.id).sort(), ['analyst', 'curator', 'mentor'], 'the bundled profiles')
    for (const assistant of listed) {
      hasEveryField(t, assistant, WITHOUT_TOOL_RESOURCES, `assistant ${assistant.id}`)
      t.equal(assistant.object, 'assistant')
      t.equal(assistant.instructions, null, `${assistant.id}: no prompt for users`)
    }
    const curator = await sdk.assistants.retrieve('curator')
    t.match(curator, { id: 'curator', model: 'gpt-4.1-mini', instructions: null })
    t.ok(curator.tools.length > 0 && curator.tools.every(tool => tool.type === 'function'), 'the profile\'s tools, as function tools')
    const timeTool = curator.tools.find(tool => tool.type === 'function' && tool.function.name === 'get_current_time')
    t.ok(timeTool, 'get_current_time among them')
    for (const tool of curator.tools) {
      if (tool.type !== 'function') continue
      // strict is left out: the SDK's type marks it optional and OpenAI sent it only when set.
      hasEveryField(t, tool.function, FUNCTION_KEYS.filter(k => k !== 'strict'), `curator tool ${tool.function.name}`)
      t.type(tool.function.parameters, 'object')
      t.notOk('url' in tool.function || 'url' in tool, 'no server-side internals such as webhook URLs')
    }
    const adminView = await admin.assistants.retrieve('curator')
    t.match(adminView.instructions, /course curator/, 'admins see the prompt')

    const created = await admin.assistants.create({
      model: 'gpt-4.1-mini',
      name: 'Tutor',
      description: 'Drills vocabulary',
      instructions: 'You drill vocabulary, one word at a time.',
      tools: [],
      metadata: { team: 'languages' },
      temperature: 0.3
    })
    hasEveryField(t, created, WITHOUT_TOOL_RESOURCES, 'created assistant')
    t.match(created, { object: 'assistant', name: 'Tutor', description: 'Drills vocabulary', model: 'gpt-4.1-mini', instructions: 'You drill vocabulary, one word at a time.', metadata: { team: 'languages' }, temperature: 0.3 })
    t.match(created.id, /^asst_/, 'a generated asst_ id')

    const thread = await sdk.threads.create({ messages: [{ role: 'user', content: 'Give me a word' }] })
    const run = await sdk.runs.createAndPoll(thread.id, { assistant_id: created.id })
    t.match(run, { status: 'completed', assistant_id: created.id }, 'a user can run on the new assistant')
    t.match(String(upstreamOf(sim, run.id)[0]?.instructions), /drill vocabulary/)

    const updated = await admin.assistants.update(created.id, { description: 'Drills words' })
    t.match(updated, { id: created.id, name: 'Tutor', description: 'Drills words' }, 'a partial update')

    for (const [label, call] of [
      ['create', () => sdk.assistants.create({ model: 'gpt-4.1-mini', name: 'Mine' })],
      ['update', () => sdk.assistants.update(created.id, { name: 'Mine' })],
      ['delete', () => sdk.assistants.del(created.id)]
    ] as const) {
      const err = await refusal(t, call(), sdk.errors.PermissionDeniedError, `a user's ${label}`)
      t.equal(err.code, 'FORBIDDEN')
      t.equal(err.type, 'permission_error')
    }

    const deleted = await admin.assistants.del(created.id)
    t.same(deleted, { id: created.id, object: 'assistant.deleted', deleted: true })
    await refusal(t, sdk.assistants.retrieve(created.id), sdk.errors.NotFoundError, 'a deleted assistant')
    t.same(sim.nonconforming(), [])
  })

  test('assistant objects carry tool_resources, which the SDK\'s type declares', async t => {
    const { sdk, admin, sim } = await setup(t, factory)
    for (const assistant of await all(sdk.assistants.list())) hasEveryField(t, assistant, ASSISTANT_KEYS, `assistant ${assistant.id}`)
    hasEveryField(t, await admin.assistants.retrieve('curator'), ASSISTANT_KEYS, 'admin view')
    t.same(sim.nonconforming(), [])
  })
})
