import t from 'tap'
import { startSim } from '../helpers/build.ts'
import { signHs256, claims, userToken } from '../helpers/tokens.ts'
import { openBrowser, startGateway, startSpa } from './helpers.ts'

t.test('the page explains what the gateway refuses: bad token, busy thread, budget, rate limit', async t => {
  const sim = await startSim(t)
  const spa = await startSpa(t)
  const cors = { CORS_ORIGINS: spa.url }
  const gateway = await startGateway(t, sim, cors)
  const { page, context } = await openBrowser(t)
  const alert = page.getByRole('alert')
  const open = async (gatewayUrl: string, token: string) => {
    await page.goto(`${spa.url}/?gateway=${encodeURIComponent(gatewayUrl)}#token=${token}`)
  }

  // 401: a token signed with another secret.
  await open(gateway.url, signHs256(claims('dave'), 'some-other-secret-some-other-secret-0123'))
  await alert.waitFor()
  t.match(await alert.textContent(), /^The gateway refused the token: .+ Paste a fresh token and connect again\.$/)
  await page.getByLabel('Bearer token').fill(userToken('dave'))
  await page.getByRole('button', { name: 'Connect' }).click()
  await page.getByRole('heading', { name: 'Threads' }).waitFor()
  t.equal(await alert.isVisible(), false, 'a good token clears the error')

  // 409 THREAD_BUSY: a second tab writes to the thread while the first one's answer is still running.
  await page.getByLabel('Title').fill('Busy')
  await page.getByRole('button', { name: 'New thread' }).click()
  await page.getByRole('heading', { name: 'Busy' }).waitFor()
  await page.getByLabel('Message').fill('[slow:6000] take your time')
  await page.getByRole('button', { name: 'Send' }).click()
  await page.locator('#messages .assistant .body[aria-busy="true"]').waitFor()
  const second = await context.newPage()
  await second.goto(page.url() + `#token=${userToken('dave')}`)
  await second.getByRole('heading', { name: 'Busy' }).waitFor()
  await second.getByLabel('Message').fill('me too')
  await second.getByRole('button', { name: 'Send' }).click()
  await second.getByRole('alert').waitFor()
  t.equal(await second.getByRole('alert').textContent(), 'This thread is still writing an answer. Wait until it is complete, then send again.')
  await second.close()
  await page.getByRole('status').filter({ hasText: 'Answer complete.' }).waitFor()

  // 429 BUDGET_EXCEEDED, with the time to the reset from Retry-After (which CORS must expose).
  const broke = await startGateway(t, sim, { ...cors, BUDGET_USER_DAILY_TOKENS: '1' })
  await open(broke.url, userToken('erin'))
  await page.getByRole('button', { name: 'New thread' }).click()
  await page.getByLabel('Message').fill('Hello?')
  await page.getByRole('button', { name: 'Send' }).click()
  await alert.waitFor()
  t.match(await alert.textContent(), /^Budget used up: Your daily token budget is used up; it resets at .+\. Try again in (\d+ s|\d+ min|\d+ h \d+ min) \(at .+\)\.$/)

  // 429 RATE_LIMITED, with Retry-After: connecting takes two requests, a new thread is the third.
  const strict = await startGateway(t, sim, { ...cors, RATE_LIMIT_MAX: '2' })
  await open(strict.url, userToken('frank'))
  await page.getByRole('heading', { name: 'Threads' }).waitFor()
  await page.getByRole('button', { name: 'New thread' }).click()
  await alert.waitFor()
  t.match(await alert.textContent(), /^Too many requests\. Try again in \d+ s \(at .+\)\.$/)
  t.same(sim.nonconforming(), [])
})

t.test('a stream cut off mid-answer: the page waits for the run and shows the whole answer', async t => {
  const sim = await startSim(t, { generationMs: 2500 })
  const spa = await startSpa(t)
  const gateway = await startGateway(t, sim, { CORS_ORIGINS: spa.url })
  const { page } = await openBrowser(t)
  await page.goto(`${spa.url}/?gateway=${encodeURIComponent(gateway.url)}#token=${userToken('gina')}`)
  await page.getByRole('button', { name: 'New thread' }).click()
  await page.getByLabel('Message').fill('Keep going after a drop')
  await page.getByRole('button', { name: 'Send' }).click()
  const answer = page.locator('#messages .assistant .body')
  await answer.filter({ hasText: 'You said' }).and(page.locator('[aria-busy="true"]')).waitFor()

  gateway.dropConnections()
  await page.getByRole('status').filter({ hasText: 'Answer complete.' }).waitFor()
  t.match(await answer.textContent(), /^You said: "Keep going after a drop"\. This is a simulated answer .+ every word of it\.$/, 'the whole answer, from the thread')
  t.equal(await page.locator('#messages .message').count(), 2)
  t.equal(await page.locator('#error').isVisible(), false, 'no error: nothing was lost')
  t.ok(gateway.requests.some(r => /^GET \/api\/openai\/threads\/[^/]+\/runs\/[^/?]+\?wait=/.test(r)), 'the page long-polled the run')
  t.same(sim.nonconforming(), [])
})
