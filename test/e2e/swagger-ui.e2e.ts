import { createHash } from 'node:crypto'
import t from 'tap'
import type { Page } from 'playwright-core'
import { startSim } from '../helpers/build.ts'
import { userToken } from '../helpers/tokens.ts'
import { wav } from '../fixtures/samples.ts'
import { openBrowser, startGateway } from './helpers.ts'

/** Opens Swagger UI: over a megabyte of script, which a loaded CI machine may take well over the usual 15 s to run. */
async function openDocs (page: Page, url: string): Promise<void> {
  await page.goto(url)
  await page.getByRole('heading', { name: /assistant-gateway/ }).waitFor({ timeout: 60_000 })
}

/** Swagger UI's Authorize dialog: the bearer token for every "Try it out". */
async function authorize (page: Page, token: string): Promise<void> {
  await page.getByRole('button', { name: 'Authorize' }).first().click()
  const dialog = page.locator('.modal-ux')
  await dialog.getByText('bearerAuth').waitFor()
  await dialog.locator('input').fill(token)
  // Swagger UI names its Authorize and Logout buttons "Apply credentials" and "Remove authorization".
  await dialog.getByRole('button', { name: 'Apply credentials' }).click()
  await dialog.getByRole('button', { name: 'Remove authorization' }).waitFor()
  await dialog.getByRole('button', { name: 'Close' }).click()
}

/** Opens an operation and switches it to "Try it out". */
async function tryItOut (page: Page, operationId: string) {
  const operation = page.locator(`#operations-${operationId}`)
  await operation.locator('.opblock-summary').click()
  const button = operation.getByRole('button', { name: 'Try it out' })
  if (await button.isVisible()) await button.click()
  return operation
}

t.test('Swagger UI at /docs: authorize with a bearer token, create a thread from the page, read an error', async t => {
  const sim = await startSim(t)
  const gateway = await startGateway(t, sim)
  // Plain HTTP on a host name that is not loopback (as on a LAN or in a container network): browsers
  // grant loopback exemptions (upgrade-insecure-requests is not applied there) that would hide CSP mistakes.
  const browser = await openBrowser(t, { args: ['--host-resolver-rules=MAP gateway.test 127.0.0.1'] })
  const { page } = browser
  const docs = `${gateway.url.replace('127.0.0.1', 'gateway.test')}/docs`

  await openDocs(page, docs)

  await authorize(page, userToken('carol'))

  const operation = await tryItOut(page, 'Threads-createThread')
  await operation.locator('textarea.body-param__text').fill('{ "title": "Made in Swagger UI" }')
  await operation.getByRole('button', { name: 'Execute' }).click()

  const live = operation.locator('.live-responses-table')
  await live.locator('.response-col_status').filter({ hasText: '201' }).waitFor()
  const body = await live.locator('.response-col_description pre').first().textContent() ?? ''
  t.match(JSON.parse(body), { object: 'thread', title: 'Made in Swagger UI' }, 'the page shows the created thread')
  t.ok(gateway.requests.includes('POST /api/openai/threads'), 'Swagger UI called the API')

  // Chromium reports helmet's Cross-Origin-Opener-Policy as ignored on plain HTTP; it applies under HTTPS.
  const problems = () => browser.console.filter(line =>
    (/^(error|pageerror)/.test(line) || /Content.Security.Policy/i.test(line)) && !/Cross-Origin-Opener-Policy header has been ignored/.test(line))
  t.same(problems(), [], 'no console errors (CSP included)')

  // An error, as documented and as answered: contract v2's OpenAI-shaped `error` object beside the v1 fields.
  const getThread = await tryItOut(page, 'Threads-getThread')
  const documented = getThread.locator('tr.response[data-code="404"]')
  const example = JSON.parse(await documented.locator('.example, .highlight-code').first().textContent() ?? '')
  // The schema admits extra fields (RUN_FAILED's `run`), which Swagger UI shows as "additionalProp1".
  t.same(['code', 'error', 'message', 'requestId', 'statusCode'].filter(key => !(key in example)), [], 'the documented 404 has the error body\'s fields')
  t.same(Object.keys(example.error).sort(), ['code', 'message', 'param', 'type'], '…with `error` as an object')
  await getThread.locator('input[placeholder="threadId"]').fill('conv_missing')
  await getThread.getByRole('button', { name: 'Execute' }).click()
  const answered = getThread.locator('.live-responses-table')
  await answered.locator('.response-col_status').filter({ hasText: '404' }).waitFor()
  const error = JSON.parse(await answered.locator('.response-col_description pre').first().textContent() ?? '')
  t.match(error, {
    error: { message: 'Thread not found', type: 'invalid_request_error', code: 'NOT_FOUND', param: null },
    statusCode: 404,
    code: 'NOT_FOUND',
    message: 'Thread not found',
    requestId: String
  }, 'the page shows the error body as the gateway sent it')
  t.same(problems(), ['error: Failed to load resource: the server responded with a status of 404 (Not Found)'], 'the only console error is Chromium\'s note of that 404')
  t.same(sim.nonconforming(), [])
})

t.test('Swagger UI at /docs: "Try it out" transcribes a WAV picked in its form (the unused `file` alias goes as an empty field)', async t => {
  const sim = await startSim(t)
  const gateway = await startGateway(t, sim)
  const browser = await openBrowser(t)
  const { page } = browser
  const sent: string[] = []
  page.on('request', request => { if (request.url().endsWith('/audio/transcriptions')) sent.push(request.headers()['content-type'] ?? '') })

  await openDocs(page, `${gateway.url}/docs`)
  await authorize(page, userToken('carol'))
  const operation = await tryItOut(page, 'Audio-createTranscription')
  const field = (name: string) => operation.locator(`tr[data-property-name="${name}"]`)
  const audio = wav({ seconds: 0.5 })
  await field('audio').locator('input[type="file"]').setInputFiles({ name: 'tone.wav', mimeType: 'audio/wav', buffer: audio })
  // Swagger UI fills the text fields with its placeholders ("string"): a user sets a real language and clears the duration.
  await field('language').getByRole('textbox').fill('en')
  await field('duration').getByRole('textbox').fill('')
  await operation.getByRole('button', { name: 'Execute' }).click()

  const live = operation.locator('.live-responses-table')
  const answered = live.locator('tr.response .response-col_status')
  await answered.waitFor()
  const status = (await answered.textContent())?.trim()
  const body = await live.locator('.response-col_description pre').first().textContent() ?? ''
  t.equal(status, '200', `Swagger UI's form is answered 200 (${body})`)
  const sha8 = createHash('sha256').update(audio).digest('hex').slice(0, 8)
  t.match(JSON.parse(body), { text: `Transcript ${sha8} of 0.50 s of audio [en]`, duration: 0.5, language: 'en', model: String },
    'the WAV arrived intact and was transcribed')
  t.match(sent, [/^multipart\/form-data; boundary=/], 'one multipart request from the page')
  t.equal(sim.counters()['POST /v1/audio/transcriptions'], 1)
  t.same(browser.console.filter(line => /^(error|pageerror)/.test(line)), [], 'no console errors')
  t.same(sim.nonconforming(), [])
})
