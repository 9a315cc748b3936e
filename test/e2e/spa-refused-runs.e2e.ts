import t, { type Test } from 'tap'
import type { Page } from 'playwright-core'
import { startSim } from '../helpers/build.ts'
import { userToken } from '../helpers/tokens.ts'
import { until } from '../helpers/until.ts'
import { apiRequests, openBrowser, startGateway, startSpa, type Gateway } from './helpers.ts'

// A refused run (budget, busy thread, rate limit) leaves the page as it was before Send: the error, no
// "answering" line, the question back in the composer and not in the thread, so sending again posts it once.

const ISO_UTC = /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/

/** The texts of the thread's messages as the gateway stores them, read from Node with the page's token. */
async function storedTexts (gateway: Gateway, token: string, threadId: string): Promise<string[]> {
  const res = await fetch(`${gateway.url}/api/openai/threads/${threadId}/messages?order=asc`, { headers: { authorization: `Bearer ${token}` } })
  const page = await res.json() as { data: Array<{ content: Array<{ text: { value: string } }> }> }
  return page.data.map(message => message.content.map(part => part.text.value).join(''))
}

const runPosts = (gateway: Gateway) => apiRequests(gateway).filter(r => /^POST \/api\/openai\/threads\/[^/]+\/runs$/.test(r)).length
const threadOf = (page: Page) => new URL(page.url()).searchParams.get('thread')!

/** What the page must show after a refusal: the error, nothing "answering", the question unsent and back in the composer. */
async function refused (t: Test, page: Page, question: string, alertPattern: RegExp, sentBefore: string[]): Promise<void> {
  const alert = page.getByRole('alert')
  await alert.waitFor()
  t.match(await alert.textContent(), alertPattern)
  t.equal(await page.getByRole('status').textContent(), '', 'no "The assistant is answering…" under the error')
  t.same(await page.locator('#messages .message.user .body').allTextContents(), sentBefore, 'the refused question is not shown as sent')
  t.equal(await page.getByLabel('Message').inputValue(), question, 'the question is back in the composer, once')
  t.ok(await page.getByRole('button', { name: 'Send' }).isEnabled(), 'Send works again')
  t.equal(await page.getByRole('button', { name: 'Answer the last message' }).isVisible(), false, 'nothing is offered for an answer: nothing was sent')
}

t.test('budget used up: the error in local time, the question kept in the composer, a retry refused again posts nothing', async t => {
  const sim = await startSim(t)
  const spa = await startSpa(t)
  const gateway = await startGateway(t, sim, { CORS_ORIGINS: spa.url, BUDGET_USER_DAILY_TOKENS: '1' })
  // Not UTC, and not a whole hour from it: a time shown in UTC could not pass for local time.
  const { page } = await openBrowser(t, { timezoneId: 'America/St_Johns' })
  const token = userToken('erin')
  await page.goto(`${spa.url}/?gateway=${encodeURIComponent(gateway.url)}#token=${token}`)
  await page.getByRole('button', { name: 'New thread' }).click()
  await page.getByLabel('Message').waitFor()

  // The reset as the gateway states it (Unix seconds), as this browser's clock shows it.
  const usage = await (await fetch(`${gateway.url}/api/openai/usage`, { headers: { authorization: `Bearer ${token}` } })).json() as { resets_at: number }
  const [local, utc] = await page.evaluate(at => [
    new Date(at * 1000).toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' }),
    new Date(at * 1000).toLocaleString([], { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' })
  ], usage.resets_at)
  t.not(local, utc)
  t.equal(await page.locator('#usage').textContent(), `1 of 1 tokens left today · resets ${local}`, 'the remaining budget (GET /usage), its reset in local time')

  const question = 'Hello? Is anyone there?'
  await page.getByLabel('Message').fill(question)
  await page.getByRole('button', { name: 'Send' }).click()
  await refused(t, page, question, /^Budget used up: Your daily token budget is used up; it resets at .+\. Try again in .+\.$/, [])
  const alert = await page.getByRole('alert').textContent() ?? ''
  t.match(alert, `it resets at ${local}.`, 'the reset in local time')
  t.notMatch(alert, ISO_UTC, 'no raw UTC ISO string')
  t.same(await storedTexts(gateway, token, threadOf(page)), [], 'nothing was posted')

  await page.getByRole('button', { name: 'Send' }).click()
  await until(() => runPosts(gateway) === 2, { message: 'the second run request' })
  await refused(t, page, question, /^Budget used up: /, [])
  t.same(await storedTexts(gateway, token, threadOf(page)), [], 'sending again posted nothing either')
  t.same(sim.nonconforming(), [])
})

t.test('a busy thread: the second tab is refused, keeps its question, and sends it once when the thread is free', async t => {
  const sim = await startSim(t)
  const spa = await startSpa(t)
  const gateway = await startGateway(t, sim, { CORS_ORIGINS: spa.url })
  const { page, context } = await openBrowser(t)
  const token = userToken('dave')
  await page.goto(`${spa.url}/?gateway=${encodeURIComponent(gateway.url)}#token=${token}`)
  await page.getByLabel('Title').fill('Busy')
  await page.getByRole('button', { name: 'New thread' }).click()
  await page.getByRole('heading', { name: 'Busy' }).waitFor()
  await page.getByLabel('Message').fill('[slow:6000] take your time')
  await page.getByRole('button', { name: 'Send' }).click()
  await page.locator('#messages .assistant .body[aria-busy="true"]').waitFor()

  // A second tab on the same thread while the first one's answer is still being written.
  const second = await context.newPage()
  await second.goto(page.url() + `#token=${token}`)
  await second.getByRole('heading', { name: 'Busy' }).waitFor()
  await second.locator('#messages .user').first().waitFor()
  await second.getByLabel('Message').fill('me too')
  await second.getByRole('button', { name: 'Send' }).click()
  await refused(t, second, 'me too', /^This thread is still writing an answer\. Wait until it is complete, then send again\.$/, ['[slow:6000] take your time'])

  await page.getByRole('status').filter({ hasText: 'Answer complete.' }).waitFor()
  await second.getByRole('button', { name: 'Send' }).click()
  await second.getByRole('status').filter({ hasText: 'Answer complete.' }).waitFor()
  t.equal(await second.getByRole('alert').isVisible(), false, 'the error is gone')
  t.same(await second.locator('#messages .message.user .body').allTextContents(), ['[slow:6000] take your time', 'me too'])
  t.equal(await second.getByLabel('Message').inputValue(), '', 'the composer is empty once the question is sent')
  const stored = await storedTexts(gateway, token, threadOf(page))
  t.equal(stored.length, 4, 'two questions, two answers')
  t.equal(stored.filter(text => text === 'me too').length, 1, 'the refused question was posted once, by the retry')
  t.match(stored[3], /^You said: "me too"/)
  t.same(sim.nonconforming(), [])
})

t.test('rate limited: the wait from Retry-After, the question kept, sent once when the limit allows', async t => {
  const sim = await startSim(t)
  const spa = await startSpa(t)
  // Two run starts per 10 s per user.
  const gateway = await startGateway(t, sim, { CORS_ORIGINS: spa.url, RATE_LIMIT_RUNS_MAX: '2', RATE_LIMIT_WINDOW_MS: '10000' })
  const { page } = await openBrowser(t)
  const token = userToken('frank')
  await page.goto(`${spa.url}/?gateway=${encodeURIComponent(gateway.url)}#token=${token}`)
  await page.getByRole('button', { name: 'New thread' }).click()
  await page.getByLabel('Message').waitFor()

  // The same user's other client starts runs until the limit says no.
  const otherClient = () => fetch(`${gateway.url}/api/openai/threads/runs`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ assistant_id: 'mentor', wait: false, thread: { messages: [{ role: 'user', content: 'from my phone' }] } })
  })
  await until(async () => (await otherClient()).status === 429, { message: 'the other client to use up the run limit' })

  const question = 'One more question'
  await page.getByLabel('Message').fill(question)
  await page.getByRole('button', { name: 'Send' }).click()
  await refused(t, page, question, /^Too many requests\. Try again in \d+ s \(at .+\)\.$/, [])
  t.same(await storedTexts(gateway, token, threadOf(page)), [], 'nothing was posted')

  // Once a new window opens (the other client gets through again), one run start is left for the page.
  await until(async () => (await otherClient()).status === 202, { timeoutMs: 30_000, intervalMs: 250, message: 'the rate-limit window to pass' })
  await page.getByRole('button', { name: 'Send' }).click()
  await page.getByRole('status').filter({ hasText: 'Answer complete.' }).waitFor()
  t.same(await page.locator('#messages .message.user .body').allTextContents(), [question])
  const stored = await storedTexts(gateway, token, threadOf(page))
  t.equal(stored.length, 2, 'the question once, its answer')
  t.equal(stored[0], question)
  t.equal(await page.getByRole('alert').isVisible(), false)
  t.same(sim.nonconforming(), [])
})

t.test('a run that fails after it started: the question stays, "Answer the last message" starts a run without posting it again', async t => {
  const sim = await startSim(t)
  const spa = await startSpa(t)
  const gateway = await startGateway(t, sim, { CORS_ORIGINS: spa.url })
  const { page } = await openBrowser(t)
  const token = userToken('gus')
  await page.goto(`${spa.url}/?gateway=${encodeURIComponent(gateway.url)}#token=${token}`)
  await page.getByRole('button', { name: 'New thread' }).click()
  // The simulator's model fails every answer to this message.
  await page.getByLabel('Message').fill('This one breaks [fail]')
  await page.getByRole('button', { name: 'Send' }).click()
  const alert = page.getByRole('alert')
  await alert.waitFor()
  t.match(await alert.textContent(), /^The run failed: .+ \(server_error, HTTP 502\)$/)
  t.equal(await page.getByRole('status').textContent(), '', 'no "answering" line under the error')
  t.same(await page.locator('#messages .message.user .body').allTextContents(), ['This one breaks [fail]'], 'the question was posted with its run')
  t.equal(await page.getByLabel('Message').inputValue(), '', 'and is not offered for sending again…')
  const retry = page.getByRole('button', { name: 'Answer the last message' })
  await retry.waitFor()
  t.pass('…but for an answer')

  await retry.click()
  await until(() => runPosts(gateway) === 2, { message: 'the second run' })
  await alert.waitFor()
  await retry.waitFor()
  t.same(await storedTexts(gateway, token, threadOf(page)), ['This one breaks [fail]'], 'the retry posted no second question')
  t.equal(apiRequests(gateway).filter(r => /\/messages$/.test(r) && r.startsWith('POST')).length, 0, 'no message was ever posted on its own')
  t.same(sim.nonconforming(), [])
})
