import { createHash } from 'node:crypto'
import { join } from 'node:path'
import t from 'tap'
import { startSim, tempDir } from '../helpers/build.ts'
import { claims, signHs256, userToken } from '../helpers/tokens.ts'
import { apiRequests, openBrowser, startGateway, startSdkExample, writeToneWav, type Gateway } from './helpers.ts'

const SAMPLE_WAV = join(import.meta.dirname, '..', '..', 'examples', 'samples', 'sample.wav')

/** What the gateway stored, read from Node with the same token the page uses. */
async function storedMessages (gateway: Gateway, token: string, threadId: string) {
  const res = await fetch(`${gateway.url}/api/openai/threads/${threadId}/messages?order=asc`, { headers: { authorization: `Bearer ${token}` } })
  const page = await res.json() as { data: Array<{ role: string, run_id: string | null, content: Array<{ text: { value: string } }> }> }
  return page.data.map(message => ({ role: message.role, runId: message.run_id, text: message.content.map(part => part.text.value).join('') }))
}

/** The thread ids the page keeps in localStorage, as an Assistants-era SPA did (the API had no thread list). */
const pageThreadIds = (page: import('playwright-core').Page) =>
  page.evaluate(() => (JSON.parse(localStorage.getItem('threads') ?? '[]') as Array<{ id: string }>).map(thread => thread.id))

/** Every header list the browser asked the gateway's CORS preflights to allow. */
function preflightHeaders (gateway: Gateway): Set<string> {
  const asked = new Set<string>()
  gateway.app.server.on('request', req => {
    if (req.method !== 'OPTIONS') return
    for (const name of String(req.headers['access-control-request-headers'] ?? '').split(',')) if (name.trim()) asked.add(name.trim())
  })
  return asked
}

t.test('the official openai SDK in Chromium: a thread, a streamed answer, transcriptions, history and a delete, with the browser\'s CORS', async t => {
  // Slow enough generation that the answer arrives in visibly separate deltas.
  const sim = await startSim(t, { generationMs: 1500 })
  const spa = await startSdkExample(t)
  const gateway = await startGateway(t, sim, { CORS_ORIGINS: spa.url })
  t.not(new URL(spa.url).origin, new URL(gateway.url).origin, 'page and API are on different origins')
  const asked = preflightHeaders(gateway)
  const wav = join(tempDir(t, 'agw-wav-'), 'tone.wav')
  writeToneWav(wav)
  const browser = await openBrowser(t, {
    args: ['--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream', `--use-file-for-fake-audio-capture=${wav}`]
  })
  const { page } = browser
  const token = userToken('ada')

  await page.goto(`${spa.url}/?gateway=${encodeURIComponent(gateway.url)}#token=${token}`)
  await page.getByRole('heading', { name: 'Threads' }).waitFor()
  t.notMatch(page.url(), /token/, 'the token is gone from the URL')
  const assistants = await page.locator('#assistant option').evaluateAll(options => options.map(o => (o as HTMLOptionElement).value))
  t.same(assistants.sort(), ['analyst', 'curator', 'mentor'], 'beta.assistants.list() through the gateway')
  await page.getByLabel('Assistant').selectOption('mentor')

  await page.getByLabel('Title').fill('Through the SDK')
  await page.getByRole('button', { name: 'New thread' }).click()
  await page.getByRole('heading', { name: 'Through the SDK' }).waitFor()
  const [threadId] = await pageThreadIds(page)
  t.match(threadId, /^\S+$/, 'beta.threads.create() gave the page a thread id')

  // audio.transcriptions.create with a file the user picks…
  const status = page.getByRole('status')
  await page.getByLabel('Transcribe a file').setInputFiles(SAMPLE_WAV)
  await status.filter({ hasText: 'Transcript added to the message.' }).waitFor()
  t.match(await page.getByLabel('Message').inputValue(), /^Transcript [0-9a-f]{8} of \d+\.\d+ s of audio$/, 'the file\'s transcript is in the message box')
  // …and with the microphone (Chromium's fake one, playing a tone).
  await page.getByLabel('Message').fill('')
  await page.getByRole('button', { name: 'Record voice' }).click()
  await status.filter({ hasText: 'Recording… 1 s' }).waitFor()
  await page.getByRole('button', { name: 'Stop recording' }).click()
  await status.filter({ hasText: 'Transcript added to the message.' }).waitFor()
  t.match(await page.getByLabel('Message').inputValue(), /^Transcript [0-9a-f]{8} of \d+\.\d+ s of audio$/, 'the recording\'s transcript is in the message box')
  t.equal(sim.counters()['POST /v1/audio/transcriptions'], 2, 'two transcriptions upstream')

  // A streamed turn: record every text the answer shows while the SDK's textDelta events arrive.
  await page.evaluate(() => {
    const seen: string[] = []
    ;(window as unknown as { answerTexts: string[] }).answerTexts = seen
    new MutationObserver(() => {
      const text = document.querySelector('#messages .assistant .body')?.textContent ?? ''
      if (text && text !== seen.at(-1)) seen.push(text)
    }).observe(document.getElementById('messages')!, { subtree: true, childList: true, characterData: true })
  })
  await page.getByLabel('Message').fill('Hello from the SDK in Chromium')
  await page.getByRole('button', { name: 'Send' }).click()
  const answer = page.locator('#messages .assistant .body')
  await answer.and(page.locator('[aria-busy="true"]')).waitFor()
  await status.filter({ hasText: 'Answer complete.' }).waitFor()
  t.equal(await answer.getAttribute('aria-busy'), 'false')
  const shown = await answer.textContent() ?? ''
  const texts = await page.evaluate(() => (window as unknown as { answerTexts: string[] }).answerTexts)
  t.ok(texts.length >= 3, `the answer grew in steps (${texts.length} distinct texts)`)
  t.ok(texts.every((text, i) => i === 0 || text.startsWith(texts[i - 1]!)), 'each step extends the previous one')
  t.equal(texts.at(-1), shown)

  const stored = await storedMessages(gateway, token, threadId!)
  t.same(stored.map(m => m.role), ['user', 'assistant'])
  t.equal(stored[0]!.text, 'Hello from the SDK in Chromium')
  t.equal(shown, stored[1]!.text, 'the page shows exactly the assistant message the gateway stored')
  t.match(shown, /^You said: "Hello from the SDK in Chromium"\. This is a simulated answer/)
  const run = await (await fetch(`${gateway.url}/api/openai/threads/${threadId}/runs/${stored[1]!.runId}`, { headers: { authorization: `Bearer ${token}` } })).json()
  t.match(run, { status: 'completed', assistant_id: 'mentor' }, 'the run was started with the picked assistant_id')

  // History after a reload: the token from this tab's storage, the thread from localStorage, messages.list().
  await page.reload()
  await page.getByRole('button', { name: 'Through the SDK' }).click()
  await page.locator('#messages .message').nth(1).waitFor()
  t.same(await page.locator('#messages .message .body').allTextContents(), ['Hello from the SDK in Chromium', shown])

  await page.getByRole('button', { name: 'Delete thread' }).click()
  await status.filter({ hasText: 'Thread deleted.' }).waitFor()
  t.same(await pageThreadIds(page), [], 'the page forgot the thread')
  t.equal(await page.locator('#threads li').count(), 0)
  const gone = await fetch(`${gateway.url}/api/openai/threads/${threadId}`, { headers: { authorization: `Bearer ${token}` } })
  t.equal(gone.status, 404, 'beta.threads.del() deleted it in the gateway')

  t.equal(await page.locator('#error').isVisible(), false, 'no error on the page')
  t.same(browser.console.filter(line => /^(error|pageerror)/.test(line)), [], 'no console errors (CSP and module loading included)')
  t.ok(['openai-beta', 'x-stainless-lang', 'x-stainless-runtime', 'x-stainless-retry-count'].every(name => asked.has(name)),
    `the browser preflighted the SDK's own headers, and the gateway allowed them: ${[...asked].sort().join(', ')}`)
  const api = apiRequests(gateway)
  for (const call of [/^GET \/api\/openai\/assistants/, /^POST \/api\/openai\/threads$/, /^POST \/api\/openai\/audio\/transcriptions$/,
    /^POST \/api\/openai\/threads\/[^/]+\/messages$/, /^POST \/api\/openai\/threads\/[^/]+\/runs$/, /^GET \/api\/openai\/threads\/[^/]+\/messages\?/,
    /^DELETE \/api\/openai\/threads\/[^/]+$/]) {
    t.ok(api.some(r => call.test(r)), `the page called ${call.source}`)
  }
  t.same(sim.nonconforming(), [])
})

t.test('a client tool through the SDK\'s helpers: toolCallCreated, the run in requires_action, submitToolOutputsStream, the answer quoting the browser\'s output', async t => {
  const sim = await startSim(t)
  const spa = await startSdkExample(t)
  const gateway = await startGateway(t, sim, { CORS_ORIGINS: spa.url })
  const asked = preflightHeaders(gateway)
  const browser = await openBrowser(t, { timezoneId: 'America/St_Johns' })
  const { page } = browser
  const token = userToken('ivy')

  await page.goto(`${spa.url}/?gateway=${encodeURIComponent(gateway.url)}#token=${token}`)
  await page.getByLabel('Assistant').selectOption('curator')
  await page.getByLabel('Title').fill('Tools through the SDK')
  await page.getByRole('button', { name: 'New thread' }).click()
  await page.getByRole('heading', { name: 'Tools through the SDK' }).waitFor()
  await page.evaluate(() => {
    // Every status the page shows, to see the SDK's toolCallCreated go by.
    const seen: string[] = []
    ;(window as unknown as { statuses: string[] }).statuses = seen
    new MutationObserver(() => { seen.push(document.getElementById('status')!.textContent ?? '') })
      .observe(document.getElementById('status')!, { childList: true, characterData: true, subtree: true })
  })
  await page.getByLabel('Message').fill('Where am I? [call:get_learner_context {}]')
  await page.getByRole('button', { name: 'Send' }).click()
  await page.getByRole('status').filter({ hasText: 'Answer complete.' }).waitFor()

  const statuses = await page.evaluate(() => (window as unknown as { statuses: string[] }).statuses)
  t.ok(statuses.includes('The assistant asked this page for get_learner_context…'), `toolCallCreated was seen: ${statuses.join(' | ')}`)
  t.same(await page.locator('#messages .message strong').allTextContents(), ['You', 'This browser', 'Assistant'])
  const shown = await page.locator('#messages .tool .body').textContent() ?? ''
  const sent = /^Ran get_learner_context for the assistant and sent: (.+)$/.exec(shown)?.[1]
  t.ok(sent, `the page says a local tool ran and what it sent: ${shown}`)
  const url = new URL(page.url())
  t.same(JSON.parse(sent!), { time_zone: 'America/St_Johns', page: url.pathname + url.search })
  const answer = await page.locator('#messages .assistant .body').textContent() ?? ''
  const quoted = /^Tool result for (call_\S+): (.+)$/.exec(answer)
  t.ok(quoted, `the answer: ${answer}`)
  t.equal(quoted![2], sent, 'the answer quotes exactly the output the browser sent')

  const [threadId] = await pageThreadIds(page)
  const stored = await storedMessages(gateway, token, threadId!)
  t.same(stored.map(m => m.role), ['user', 'assistant'])
  t.equal(stored[1]!.text, answer, 'the streamed answer is the stored one')
  const run = await (await fetch(`${gateway.url}/api/openai/threads/${threadId}/runs/${stored[1]!.runId}`, { headers: { authorization: `Bearer ${token}` } })).json()
  t.match(run, { status: 'completed', assistant_id: 'curator', required_action: null })
  const api = apiRequests(gateway)
  t.equal(api.filter(r => /^POST \/api\/openai\/threads\/[^/]+\/runs\/[^/]+\/submit_tool_outputs$/.test(r)).length, 1, 'runs.submitToolOutputsStream() once')
  t.ok(gateway.requests.some(r => /^OPTIONS \/api\/openai\/threads\/[^/]+\/runs\/[^/]+\/submit_tool_outputs$/.test(r)) && asked.has('openai-beta'), 'its preflight was allowed')
  t.equal(await page.locator('#error').isVisible(), false, 'no error on the page')
  t.same(browser.console.filter(line => /^(error|pageerror)/.test(line)), [], 'no console errors')
  t.same(sim.nonconforming(), [])
})

t.test('a stream cut off mid-answer: the page waits with runs.poll() and shows the whole stored answer', async t => {
  const sim = await startSim(t, { generationMs: 2500 })
  const spa = await startSdkExample(t)
  const gateway = await startGateway(t, sim, { CORS_ORIGINS: spa.url })
  const { page } = await openBrowser(t)
  const token = userToken('grace')
  await page.goto(`${spa.url}/?gateway=${encodeURIComponent(gateway.url)}#token=${token}`)
  await page.getByRole('button', { name: 'New thread' }).click()
  await page.getByLabel('Message').fill('Keep going after a drop')
  await page.getByRole('button', { name: 'Send' }).click()
  const answer = page.locator('#messages .assistant .body')
  await answer.filter({ hasText: 'You said' }).and(page.locator('[aria-busy="true"]')).waitFor()

  gateway.dropConnections()
  await page.getByRole('status').filter({ hasText: 'Answer complete.' }).waitFor()
  const [threadId] = await pageThreadIds(page)
  const stored = await storedMessages(gateway, token, threadId!)
  t.equal(await answer.textContent(), stored[1]!.text, 'the whole stored answer, reloaded')
  t.match(stored[1]!.text, /every word of it\.$/)
  t.equal(await page.locator('#messages .message').count(), 2)
  t.equal(await page.locator('#error').isVisible(), false, 'no error: nothing was lost')
  t.ok(gateway.requests.some(r => /^GET \/api\/openai\/threads\/[^/]+\/runs\/[^/?]+$/.test(r)), 'the SDK polled the run')
  t.same(sim.nonconforming(), [])
})

t.test('errors reach the page as the SDK\'s error classes, with the gateway\'s message, code and request id', async t => {
  const sim = await startSim(t)
  const spa = await startSdkExample(t)
  const gateway = await startGateway(t, sim, { CORS_ORIGINS: spa.url })
  const { page } = await openBrowser(t)
  const alert = page.getByRole('alert')

  // 401: a token signed with another secret → OpenAI.AuthenticationError.
  await page.goto(`${spa.url}/?gateway=${encodeURIComponent(gateway.url)}#token=${signHs256(claims('heidi'), 'some-other-secret-some-other-secret-0123')}`)
  await alert.waitFor()
  t.match(await alert.textContent(), /^The gateway refused the token: 401 Token [\w ]+\. Paste a fresh token and connect again\.$/,
    'the SDK read the gateway\'s message from the error object (v1\'s string `error` reads 401 "Unauthorized")')

  // 404: a thread id the page kept that is not (or no longer) the caller's → OpenAI.NotFoundError, with x-request-id read through CORS.
  await page.evaluate(() => localStorage.setItem('threads', JSON.stringify([{ id: 'conv_not_mine', title: 'Stale' }])))
  await page.getByLabel('Bearer token').fill(userToken('heidi'))
  await page.getByRole('button', { name: 'Connect' }).click()
  await page.getByRole('button', { name: 'Stale' }).click()
  await alert.filter({ hasText: 'NOT_FOUND' }).waitFor()
  t.match(await alert.textContent(), /^404 Thread not found \(NOT_FOUND\) \(request [\w-]+\)$/)
  t.equal(await page.locator('#threads li').count(), 0, 'the page forgot the stale thread')
  t.same(sim.nonconforming(), [])
})

t.test('a page on an origin that is not in CORS_ORIGINS: the browser refuses, the SDK reports a connection error', async t => {
  const sim = await startSim(t)
  const spa = await startSdkExample(t)
  const gateway = await startGateway(t, sim, { CORS_ORIGINS: 'https://spa.example' })
  const browser = await openBrowser(t)
  const { page } = browser

  await page.goto(`${spa.url}/?gateway=${encodeURIComponent(gateway.url)}#token=${userToken('mallory')}`)
  const alert = page.getByRole('alert')
  await alert.waitFor()
  const text = await alert.textContent() ?? ''
  t.match(text, `Could not reach the gateway at ${gateway.url} (Connection error.)`, 'OpenAI.APIConnectionError, as the SDK raises it')
  t.match(text, `CORS_ORIGINS allow this page's origin (${spa.url})`)
  t.equal(await page.locator('#workspace').isVisible(), false, 'nothing loaded')
  t.ok(browser.console.some(line => line.includes(`from origin '${spa.url}' has been blocked by CORS policy`)), 'Chromium blocked the call for CORS')
  t.ok(gateway.requests.some(r => r.startsWith('OPTIONS /api/openai/assistants')), 'the browser asked (preflight)…')
  t.same(apiRequests(gateway), [], '…and, refused, never sent the API request')
})

t.test('the example\'s server: its page and code, the SDK\'s ES modules from node_modules, nothing else', async t => {
  const spa = await startSdkExample(t)
  const get = (path: string) => fetch(spa.url + path)

  const page = await get('/')
  const html = await page.text()
  const importMap = /<script type="importmap">([\s\S]*?)<\/script>/.exec(html)![1]!
  const hash = createHash('sha256').update(importMap).digest('base64')
  t.match(page.headers.get('content-security-policy'), `script-src 'self' 'sha256-${hash}';`, 'the inline import map is allowed by its hash, nothing else inline')
  t.same(JSON.parse(importMap).imports, {
    openai: '/vendor/openai/index.mjs',
    'openai/_shims/auto/runtime': '/vendor/openai/_shims/auto/runtime.mjs'
  })

  for (const path of ['/vendor/openai/index.mjs', '/vendor/openai/_shims/auto/runtime.mjs', '/vendor/openai/lib/AssistantStream.mjs', '/app.ts']) {
    const res = await get(path)
    t.equal(res.status, 200, `${path} is served`)
    t.match(res.headers.get('content-type'), /^text\/javascript/)
  }
  t.match(await (await get('/vendor/openai/version.mjs')).text(), /VERSION = '4\.\d+\.\d+'/, 'the SDK served is 4.x')
  t.notMatch(await (await get('/app.ts')).text(), /: OpenAI\b|<T extends/, 'types are stripped')
  t.equal((await get('/style.css')).status, 200, 'the reference SPA\'s stylesheet')
  for (const path of ['/server.ts', '/README.md', '/tsconfig.json', '/vendor/openai/package.json', '/vendor/openai/index.js',
    '/vendor/openai/index.d.mts', '/vendor/openai/src/index.ts', '/vendor/openai/../../package.json', '/vendor/%2e%2e/%2e%2e/package.json']) {
    t.equal((await get(path)).status, 404, `${path} is not served`)
  }
})
