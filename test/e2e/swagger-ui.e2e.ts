import t from 'tap'
import { startSim } from '../helpers/build.ts'
import { userToken } from '../helpers/tokens.ts'
import { openBrowser, startGateway } from './helpers.ts'

t.test('Swagger UI at /docs: authorize with a bearer token and create a thread from the page', async t => {
  const sim = await startSim(t)
  const gateway = await startGateway(t, sim)
  // Plain HTTP on a host name that is not loopback (as on a LAN or in a container network): browsers
  // grant loopback exemptions (upgrade-insecure-requests is not applied there) that would hide CSP mistakes.
  const browser = await openBrowser(t, { args: ['--host-resolver-rules=MAP gateway.test 127.0.0.1'] })
  const { page } = browser
  const docs = `${gateway.url.replace('127.0.0.1', 'gateway.test')}/docs`

  await page.goto(docs)
  await page.getByRole('heading', { name: /assistant-gateway/ }).waitFor()

  await page.getByRole('button', { name: 'Authorize' }).first().click()
  const dialog = page.locator('.modal-ux')
  await dialog.getByText('bearerAuth').waitFor()
  await dialog.locator('input').fill(userToken('carol'))
  // Swagger UI names its Authorize and Logout buttons "Apply credentials" and "Remove authorization".
  await dialog.getByRole('button', { name: 'Apply credentials' }).click()
  await dialog.getByRole('button', { name: 'Remove authorization' }).waitFor()
  await dialog.getByRole('button', { name: 'Close' }).click()

  const operation = page.locator('#operations-Threads-createThread')
  await operation.locator('.opblock-summary').click()
  const tryItOut = operation.getByRole('button', { name: 'Try it out' })
  if (await tryItOut.isVisible()) await tryItOut.click()
  await operation.locator('textarea.body-param__text').fill('{ "title": "Made in Swagger UI" }')
  await operation.getByRole('button', { name: 'Execute' }).click()

  const live = operation.locator('.live-responses-table')
  await live.locator('.response-col_status').filter({ hasText: '201' }).waitFor()
  const body = await live.locator('.response-col_description pre').first().textContent() ?? ''
  t.match(JSON.parse(body), { object: 'thread', title: 'Made in Swagger UI' }, 'the page shows the created thread')
  t.ok(gateway.requests.includes('POST /api/openai/threads'), 'Swagger UI called the API')

  // Chromium reports helmet's Cross-Origin-Opener-Policy as ignored on plain HTTP; it applies under HTTPS.
  const problems = browser.console.filter(line =>
    (/^(error|pageerror)/.test(line) || /Content.Security.Policy/i.test(line)) && !/Cross-Origin-Opener-Policy header has been ignored/.test(line))
  t.same(problems, [], 'no console errors (CSP included)')
  t.same(sim.nonconforming(), [])
})
