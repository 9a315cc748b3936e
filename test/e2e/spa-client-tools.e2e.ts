import t from 'tap'
import { startSim } from '../helpers/build.ts'
import { adminToken, userToken } from '../helpers/tokens.ts'
import { apiRequests, openBrowser, startGateway, startSpa, type Gateway } from './helpers.ts'

/** The gateway's API as the page's user (or an admin) sees it, from Node. */
function apiAs (gateway: Gateway, token: string) {
  return async (method: string, path: string, body?: object) => {
    const res = await fetch(`${gateway.url}/api/openai${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {})
    })
    return { status: res.status, body: await res.json() }
  }
}

const threadOf = (url: string) => new URL(url).searchParams.get('thread')!

t.test('the reference SPA runs the curator\'s client tool in the browser: the run pauses, the page answers, the answer quotes what it sent', async t => {
  const sim = await startSim(t)
  const spa = await startSpa(t)
  const gateway = await startGateway(t, sim, { CORS_ORIGINS: spa.url })
  // A time zone that is neither the machine's nor UTC, so the output can only be the browser's own.
  const browser = await openBrowser(t, { timezoneId: 'America/St_Johns' })
  const { page } = browser
  const token = userToken('tess')
  const api = apiAs(gateway, token)

  await page.goto(`${spa.url}/?gateway=${encodeURIComponent(gateway.url)}#token=${token}`)
  await page.getByLabel('Assistant').selectOption('curator')
  await page.getByLabel('Title').fill('Where am I?')
  await page.getByRole('button', { name: 'New thread' }).click()
  await page.getByRole('heading', { name: 'Where am I?' }).waitFor()
  // The simulator's model calls a tool when the message asks it to.
  await page.getByLabel('Message').fill('What should I study next? [call:get_learner_context {}]')
  await page.getByRole('button', { name: 'Send' }).click()
  await page.getByRole('status').filter({ hasText: 'Answer complete.' }).waitFor()

  t.same(await page.locator('#messages .message strong').allTextContents(), ['You', 'This browser', 'Assistant'],
    'the question, what the browser ran, the answer')
  const shown = await page.locator('#messages .tool .body').textContent() ?? ''
  const sent = /^Ran get_learner_context for the assistant and sent: (.+)$/.exec(shown)?.[1]
  t.ok(sent, `the page says a local tool ran and what it sent: ${shown}`)
  const url = new URL(page.url())
  t.same(JSON.parse(sent!), { time_zone: 'America/St_Johns', page: url.pathname + url.search }, 'the browser\'s time zone and the page the learner is on')

  const answer = await page.locator('#messages .assistant .body').textContent() ?? ''
  const quoted = /^Tool result for (call_\S+): (.+)$/.exec(answer)
  t.ok(quoted, `the answer is the model's reading of the tool output: ${answer}`)
  t.equal(quoted![2], sent, 'the answer quotes exactly the output the browser sent')

  // The gateway's record of it: the run paused for that call and went on with that output.
  const threadId = threadOf(page.url())
  const runs = await api('GET', `/threads/${threadId}/runs`)
  t.equal(runs.body.data.length, 1, 'one run')
  t.match(runs.body.data[0], { status: 'completed', assistant_id: 'curator', required_action: null })
  const steps = await api('GET', `/threads/${threadId}/runs/${runs.body.data[0].id}/steps?order=asc`)
  t.same(steps.body.data[0].step_details.tool_calls, [{ id: quoted![1], type: 'function', function: { name: 'get_learner_context', arguments: '{}', output: sent } }],
    'the run step holds the call and the browser\'s output')
  const messages = await api('GET', `/threads/${threadId}/messages?order=asc`)
  t.same(messages.body.data.map((m: { role: string }) => m.role), ['user', 'assistant'], 'the question once, the answer once')
  t.equal(messages.body.data[1].content[0].text.value, answer, 'the page shows the stored answer')
  const submits = apiRequests(gateway).filter(r => /^POST \/api\/openai\/threads\/[^/]+\/runs\/[^/]+\/submit_tool_outputs$/.test(r))
  t.equal(submits.length, 1, 'one submit_tool_outputs')

  t.equal(await page.locator('#error').isVisible(), false, 'no error on the page')
  t.same(browser.console.filter(line => /^(error|pageerror)/.test(line)), [], 'no console errors')
  t.same(sim.nonconforming(), [])
})

t.test('a client tool the page does not have: it submits an error output, and the run ends instead of waiting to expire', async t => {
  const sim = await startSim(t)
  const spa = await startSpa(t)
  const gateway = await startGateway(t, sim, { CORS_ORIGINS: spa.url })
  // An assistant whose profile declares a client tool this page knows nothing of.
  const put = await apiAs(gateway, adminToken())('PUT', '/assistants/quizmaster', {
    name: 'Quizmaster',
    model: 'gpt-4.1-mini',
    instructions: 'Quiz the learner.',
    client_tools: [{ name: 'read_quiz_answers', description: 'The answers the learner typed into the quiz page.', parameters: { type: 'object', properties: {} } }],
    max_output_tokens: 500
  })
  t.equal(put.status, 200, 'the admin added the assistant')
  const { page } = await openBrowser(t)
  const token = userToken('uma')

  await page.goto(`${spa.url}/?gateway=${encodeURIComponent(gateway.url)}#token=${token}`)
  await page.getByLabel('Assistant').selectOption('quizmaster')
  await page.getByRole('button', { name: 'New thread' }).click()
  await page.getByLabel('Message').fill('Check my answers [call:read_quiz_answers {}]')
  await page.getByRole('button', { name: 'Send' }).click()
  await page.getByRole('status').filter({ hasText: 'Answer complete.' }).waitFor()

  const error = '{"error":"this page has no tool named read_quiz_answers"}'
  const tool = page.locator('#messages .tool')
  t.equal(await tool.locator('.body').textContent(), `Could not run read_quiz_answers for the assistant and told it so: ${error}`)
  t.match(await tool.getAttribute('class'), /\bfailed\b/)
  t.match(await page.locator('#messages .assistant .body').textContent(), new RegExp(`^Tool result for call_\\S+: ${error.replace(/[{}]/g, '\\$&')}$`),
    'the model got the error as the tool\'s output')
  const runs = await apiAs(gateway, token)('GET', `/threads/${threadOf(page.url())}/runs`)
  t.equal(runs.body.data[0].status, 'completed', 'the run ended rather than waiting for an output that would never come')
  t.equal(await page.locator('#error').isVisible(), false)
  t.same(sim.nonconforming(), [])
})

t.test('the tool outputs refused (rate limit): the page says so and cancels the paused run, so the thread is not held until it expires', async t => {
  const sim = await startSim(t)
  const spa = await startSpa(t)
  // One run start per minute: the run takes it, submit_tool_outputs (the same bucket) is refused.
  const gateway = await startGateway(t, sim, { CORS_ORIGINS: spa.url, RATE_LIMIT_RUNS_MAX: '1' })
  const { page } = await openBrowser(t)
  const token = userToken('vic')
  const api = apiAs(gateway, token)
  await page.goto(`${spa.url}/?gateway=${encodeURIComponent(gateway.url)}#token=${token}`)
  await page.getByLabel('Assistant').selectOption('curator')
  await page.getByRole('button', { name: 'New thread' }).click()
  await page.getByLabel('Message').fill('Where am I? [call:get_learner_context {}]')
  await page.getByRole('button', { name: 'Send' }).click()

  const alert = page.getByRole('alert')
  await alert.waitFor()
  t.match(await alert.textContent(), /^Too many requests\. Try again in \d+ s \(at .+\)\.$/)
  t.equal(await page.getByRole('status').textContent(), '', 'no "answering" line under the error')
  t.match(await page.locator('#messages .tool .body').textContent(), /^Ran get_learner_context for the assistant and sent: /)
  await page.getByRole('button', { name: 'Answer the last message' }).waitFor()
  const runs = await api('GET', `/threads/${threadOf(page.url())}/runs`)
  t.equal(runs.body.data[0].status, 'cancelled', 'the paused run was cancelled')
  const next = await api('POST', `/threads/${threadOf(page.url())}/messages`, { content: 'still there?' })
  t.equal(next.status, 201, 'the thread is free at once, not in ten minutes')
  t.same(sim.nonconforming(), [])
})
