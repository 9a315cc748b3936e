import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import type { Page } from 'playwright-core'
import { startSim } from '../helpers/build.ts'
import { adminToken, userToken } from '../helpers/tokens.ts'
import { apiAs, apiRequests, openBrowser, startGateway, startSpa, type Gateway } from './helpers.ts'

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

/** Every text the status line showed, in order, recorded in the page (a countdown is too short-lived to poll for). */
async function recordStatusLines (page: Page): Promise<() => Promise<string[]>> {
  await page.addInitScript(() => {
    const seen: string[] = []
    Object.assign(window, { statusLines: seen })
    document.addEventListener('DOMContentLoaded', () => {
      const status = document.getElementById('status')!
      new MutationObserver(() => { if (seen.at(-1) !== status.textContent) seen.push(status.textContent ?? '') })
        .observe(status, { childList: true, characterData: true, subtree: true })
    })
  })
  return () => page.evaluate(() => (window as unknown as { statusLines: string[] }).statusLines)
}

// The general per-user limit in windows of 2 s (the minimum is 1 s): a refusal's Retry-After is 1 or 2 s, which
// the page waits out. Twenty requests per window are more than the page makes in one.
const TIGHT_LIMIT = { RATE_LIMIT_MAX: '20', RATE_LIMIT_WINDOW_MS: '2000' }
const SUBMIT = /\/api\/openai\/threads\/[^/]+\/runs\/[^/]+\/submit_tool_outputs$/
const CANCEL = /\/api\/openai\/threads\/[^/]+\/runs\/[^/]+\/cancel$/

/**
 * Spends the user's general limit with real requests until the gateway refuses one with more than a second of
 * its window left, so that the page's next request, sent at once, lands in the same window and is refused too.
 */
async function exhaustLimit (gateway: Gateway, token: string): Promise<void> {
  for (;;) {
    const res = await fetch(`${gateway.url}/api/openai/usage`, { headers: { authorization: `Bearer ${token}` } })
    await res.arrayBuffer()
    if (res.status === 429 && Number(res.headers.get('retry-after')) >= 2) return
    // Refused near the window's end: wait for the next window (a poll, not a timing assumption) and fill that.
    if (res.status === 429) await sleep(50)
  }
}

/** Waits until the user's general limit admits a request again (which spends one of the new window). */
async function waitForLimit (gateway: Gateway, token: string): Promise<void> {
  for (;;) {
    const res = await fetch(`${gateway.url}/api/openai/usage`, { headers: { authorization: `Bearer ${token}` } })
    await res.arrayBuffer()
    if (res.status === 200) return
    await sleep(50)
  }
}

const postsTo = (requests: string[], pattern: RegExp) => requests.filter(r => r.startsWith('POST ') && pattern.test(r.slice(5)))

t.test('the tool outputs refused for a moment (rate limit): the page waits out Retry-After, sends the same outputs again, and the answer completes', async t => {
  const sim = await startSim(t)
  const spa = await startSpa(t)
  const gateway = await startGateway(t, sim, { CORS_ORIGINS: spa.url, ...TIGHT_LIMIT })
  const { page, console: consoleLines } = await openBrowser(t)
  const statusLines = await recordStatusLines(page)
  const token = userToken('vic')
  const api = apiAs(gateway, token)

  // The page's first submit finds the user's general limit spent by this test's own requests with the same
  // token: the gateway itself refuses it (no answer is faked). Later submits go through untouched.
  const submits: Array<{ body: string | null }> = []
  await page.route(SUBMIT, async route => {
    if (route.request().method() !== 'POST') return route.continue()
    submits.push({ body: route.request().postData() })
    if (submits.length === 1) await exhaustLimit(gateway, token)
    await route.continue()
  })

  await page.goto(`${spa.url}/?gateway=${encodeURIComponent(gateway.url)}#token=${token}`)
  await page.getByLabel('Assistant').selectOption('curator')
  await page.getByRole('button', { name: 'New thread' }).click()
  await page.getByLabel('Message').fill('Where am I? [call:get_learner_context {}]')
  await page.getByRole('button', { name: 'Send' }).click()
  await page.getByRole('status').filter({ hasText: 'Answer complete.' }).waitFor({ timeout: 60_000 })

  const lines = await statusLines()
  const waiting = lines.filter(line => line.startsWith('Too many requests'))
  t.ok(waiting.length > 0, `the status line said it would send again: ${JSON.stringify(lines)}`)
  for (const line of waiting) t.match(line, /^Too many requests; sending the tool's answer again in [12] s…$/)
  t.ok(lines.includes('Sending the tool\'s answer again…'), 'and when it did')
  t.equal(submits.length, 2, 'the outputs were sent twice: refused, then taken')
  t.equal(submits[1]!.body, submits[0]!.body, 'the same outputs both times')
  const requests = gateway.requests
  t.equal(postsTo(requests, SUBMIT).length, 2, 'both reached the gateway')
  t.equal(postsTo(requests, CANCEL).length, 0, 'nothing was cancelled')
  t.equal(await page.locator('#error').isVisible(), false, 'no error on the page')
  t.equal(await page.getByRole('button', { name: 'Answer the last message' }).isVisible(), false)

  const threadId = threadOf(page.url())
  const sent = /^Ran get_learner_context for the assistant and sent: (.+)$/.exec(await page.locator('#messages .tool .body').textContent() ?? '')?.[1]
  t.ok(sent, 'the page showed what it sent')
  t.match(await page.locator('#messages .assistant .body').textContent(), /^Tool result for call_\S+: /, 'the answer came')
  const runs = await api('GET', `/threads/${threadId}/runs`)
  t.equal(runs.body.data.length, 1, 'one run')
  t.match(runs.body.data[0], { status: 'completed', required_action: null })
  const steps = await api('GET', `/threads/${threadId}/runs/${runs.body.data[0].id}/steps?order=asc`)
  t.same(steps.body.data[0].step_details.tool_calls.map((call: { function: { output: string } }) => call.function.output), [sent],
    'the run took the outputs once')
  const outputs = sim.peek.conversation(threadId)!.items.filter(item => item.type === 'function_call_output')
  t.same(outputs.map(item => item.output), [sent], 'one function_call_output reached the model')
  t.same(consoleLines.filter(line => /^pageerror/.test(line)), [], 'no page errors')
  t.same(sim.nonconforming(), [])
})

t.test('the tool outputs refused again and again: the page gives up after a few sends, says so and cancels the paused run', async t => {
  const sim = await startSim(t)
  const spa = await startSpa(t)
  const gateway = await startGateway(t, sim, { CORS_ORIGINS: spa.url, ...TIGHT_LIMIT })
  const { page } = await openBrowser(t)
  const statusLines = await recordStatusLines(page)
  const token = userToken('wes')
  const api = apiAs(gateway, token)

  // Every submit finds the limit spent. The cancel that follows the last refusal is held until the limit
  // admits requests again, so the test sees what an admitted cancel does (a refused one would leave the run
  // paused until it expires: the page cannot do better than try).
  let submits = 0
  await page.route(SUBMIT, async route => {
    if (route.request().method() !== 'POST') return route.continue()
    submits++
    await exhaustLimit(gateway, token)
    await route.continue()
  })
  await page.route(CANCEL, async route => {
    if (route.request().method() === 'POST') await waitForLimit(gateway, token)
    await route.continue()
  })

  await page.goto(`${spa.url}/?gateway=${encodeURIComponent(gateway.url)}#token=${token}`)
  await page.getByLabel('Assistant').selectOption('curator')
  await page.getByRole('button', { name: 'New thread' }).click()
  await page.getByLabel('Message').fill('Where am I? [call:get_learner_context {}]')
  await page.getByRole('button', { name: 'Send' }).click()

  const alert = page.getByRole('alert')
  await alert.waitFor({ timeout: 60_000 })
  t.match(await alert.textContent(), /^Too many requests\. Try again in [12] s \(at .+\)\.$/)
  await page.getByRole('button', { name: 'Answer the last message' }).waitFor()
  t.equal(await page.getByRole('status').textContent(), '', 'no "answering" line under the error')
  t.equal(submits, 4, 'the outputs were sent four times')
  t.equal((await statusLines()).filter(line => /^Too many requests; sending the tool's answer again in 1 s…$/.test(line)).length, 3,
    'three waits announced (the last second of each countdown)')
  t.equal(postsTo(gateway.requests, CANCEL).length, 1, 'then the page cancelled the run')

  const threadId = threadOf(page.url())
  const runs = await api('GET', `/threads/${threadId}/runs`)
  t.equal(runs.body.data[0].status, 'cancelled', 'the paused run was cancelled')
  const outputs = sim.peek.conversation(threadId)!.items.filter(item => item.type === 'function_call_output')
  t.same(outputs.map(item => JSON.parse(item.output as string).error), ['cancelled'], 'the call was closed by the cancel, none of the page\'s outputs taken')
  const next = await api('POST', `/threads/${threadId}/messages`, { content: 'still there?' })
  t.equal(next.status, 201, 'the thread is free at once, not in ten minutes')
  t.same(sim.nonconforming(), [])
})
