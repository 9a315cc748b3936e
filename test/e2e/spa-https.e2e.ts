import t from 'tap'
import { startSim } from '../helpers/build.ts'
import { userToken } from '../helpers/tokens.ts'
import { apiRequests, openBrowser, selfSignedCertificate, startGateway, startSpa } from './helpers.ts'

t.test('the SPA on its own origin talks to the gateway over HTTPS: new thread, streamed answer, history after a reload', async t => {
  // Slow enough generation that the answer arrives in visibly separate chunks.
  const sim = await startSim(t, { generationMs: 1500 })
  const tls = selfSignedCertificate(t)
  const spa = await startSpa(t, { tls })
  const gateway = await startGateway(t, sim, {
    TLS_CERT_FILE: tls.certFile,
    TLS_KEY_FILE: tls.keyFile,
    CORS_ORIGINS: `https://localhost:5173,${spa.url}`
  })
  t.match(gateway.url, /^https:\/\/127\.0\.0\.1:\d+$/)
  t.not(new URL(spa.url).origin, new URL(gateway.url).origin, 'page and API are on different origins')
  const { page } = await openBrowser(t, { ignoreHTTPSErrors: true })

  // The token arrives in the fragment, which no server sees, and the page wipes it from the address bar.
  await page.goto(`${spa.url}/?gateway=${encodeURIComponent(gateway.url)}#token=${userToken('alice')}`)
  await page.getByRole('heading', { name: 'Threads' }).waitFor()
  t.equal(await page.locator('#origin').textContent(), spa.url, 'the page shows the origin it is served from')
  t.notMatch(page.url(), /token/, 'the token is gone from the URL')
  const assistants = await page.locator('#assistant option').evaluateAll(options => options.map(o => (o as HTMLOptionElement).value))
  t.same(assistants.sort(), ['analyst', 'curator', 'mentor'], 'the assistants are offered')

  t.equal(await page.getByLabel('Message').isVisible(), false, 'no composer until a thread is open')
  await page.getByLabel('Title').fill('Over HTTPS')
  await page.getByRole('button', { name: 'New thread' }).click()
  await page.getByRole('heading', { name: 'Over HTTPS' }).waitFor()
  t.equal(await page.locator('#threads button[aria-current="true"]').textContent(), 'Over HTTPS', 'the new thread is listed and open')

  // Record every text the answer shows while it streams.
  await page.evaluate(() => {
    const seen: string[] = []
    ;(window as unknown as { answerTexts: string[] }).answerTexts = seen
    new MutationObserver(() => {
      const body = document.querySelector('#messages .assistant .body')
      const text = body?.textContent ?? ''
      if (text && text !== seen.at(-1)) seen.push(text)
    }).observe(document.getElementById('messages')!, { subtree: true, childList: true, characterData: true })
  })
  await page.getByLabel('Message').fill('Hello from Chromium over TLS')
  await page.getByRole('button', { name: 'Send' }).click()

  const answer = page.locator('#messages .assistant .body')
  await answer.and(page.locator('[aria-busy="true"]')).waitFor()
  t.equal(await answer.getAttribute('aria-live'), 'polite', 'the streaming answer is a live region')
  await page.getByRole('status').filter({ hasText: 'Answer complete.' }).waitFor()
  t.equal(await answer.getAttribute('aria-busy'), 'false')
  const finalText = await answer.textContent() ?? ''
  t.match(finalText, /^You said: "Hello from Chromium over TLS"\. This is a simulated answer/)
  const texts = await page.evaluate(() => (window as unknown as { answerTexts: string[] }).answerTexts)
  t.ok(texts.length >= 3, `the answer grew in steps (${texts.length} distinct texts)`)
  t.ok(texts.every((text, i) => i === 0 || text.startsWith(texts[i - 1]!)), 'each step extends the previous one')
  t.ok(texts[0]!.length < finalText.length, 'the first text seen was only a part of the answer')
  t.equal(texts.at(-1), finalText)
  t.equal(await page.locator('#messages .user .body').textContent(), 'Hello from Chromium over TLS')

  // A reload comes back to the same thread (token from this tab's storage) and shows the stored history.
  await page.reload()
  await page.getByRole('heading', { name: 'Over HTTPS' }).waitFor()
  await page.locator('#messages .message').nth(1).waitFor()
  t.same(await page.locator('#messages .message strong').allTextContents(), ['You', 'Assistant'])
  t.same(await page.locator('#messages .message .body').allTextContents(), ['Hello from Chromium over TLS', finalText])
  t.equal(await page.locator('#error').isVisible(), false, 'no error on the page')

  const api = apiRequests(gateway)
  t.ok(api.some(r => /^POST \/api\/openai\/threads\/[^/]+\/runs$/.test(r)), 'the run went through the gateway')
  t.ok(gateway.requests.some(r => r.startsWith('OPTIONS /api/openai/')), 'the browser preflighted the cross-origin calls')
  t.same(sim.nonconforming(), [])
})
