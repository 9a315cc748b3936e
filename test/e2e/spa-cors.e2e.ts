import t from 'tap'
import { startSim } from '../helpers/build.ts'
import { userToken } from '../helpers/tokens.ts'
import { apiRequests, openBrowser, startGateway, startSpaProcess } from './helpers.ts'

t.test('a page on an origin that is not in CORS_ORIGINS is refused by the browser', async t => {
  const sim = await startSim(t)
  const spaUrl = await startSpaProcess(t) // as a developer runs it
  const gateway = await startGateway(t, sim, { CORS_ORIGINS: 'http://localhost:5173,https://spa.example' })
  t.notOk(['http://localhost:5173', 'https://spa.example'].includes(spaUrl), 'the page is on an origin the gateway does not list')
  const browser = await openBrowser(t)
  const { page } = browser

  await page.goto(`${spaUrl}/?gateway=${encodeURIComponent(gateway.url)}`)
  t.equal(await page.locator('#origin').textContent(), spaUrl)
  await page.getByLabel('Bearer token').fill(userToken('mallory'))
  await page.getByRole('button', { name: 'Connect' }).click()

  const alert = page.getByRole('alert')
  await alert.waitFor()
  const text = await alert.textContent() ?? ''
  t.match(text, `Network error: Could not reach the gateway at ${gateway.url}`)
  t.match(text, `CORS_ORIGINS allow this page's origin (${spaUrl})`)
  t.equal(await page.locator('#workspace').isVisible(), false, 'nothing loaded')

  t.ok(browser.console.some(line => line.includes(`from origin '${spaUrl}' has been blocked by CORS policy`)),
    'Chromium blocked the call for CORS')
  t.ok(gateway.requests.includes('OPTIONS /api/openai/assistants'), 'the browser asked (preflight)…')
  t.same(apiRequests(gateway), [], '…and, refused, never sent the API request')
})
