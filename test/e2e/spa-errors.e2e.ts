import t from 'tap'
import { startSim } from '../helpers/build.ts'
import { signHs256, claims, userToken } from '../helpers/tokens.ts'
import { openBrowser, startGateway, startSpa } from './helpers.ts'

// Refused runs (budget, busy thread, rate limit) and what they leave on the page: spa-refused-runs.e2e.ts.
t.test('the page explains what the gateway refuses: a bad token, a rate limit', async t => {
  const sim = await startSim(t)
  const spa = await startSpa(t)
  const cors = { CORS_ORIGINS: spa.url }
  const gateway = await startGateway(t, sim, cors)
  const { page } = await openBrowser(t)
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

  // 429 RATE_LIMITED, with Retry-After (which CORS must expose): connecting takes three requests
  // (assistants, threads, usage), a new thread is the fourth.
  const strict = await startGateway(t, sim, { ...cors, RATE_LIMIT_MAX: '3' })
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
