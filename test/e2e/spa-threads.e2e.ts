import t from 'tap'
import { startSim } from '../helpers/build.ts'
import { userToken } from '../helpers/tokens.ts'
import { apiAs, openBrowser, startGateway, startSpa } from './helpers.ts'

t.test('threads in the reference SPA: each remembers its assistant, renamed and deleted; the remaining budget shown and kept current', async t => {
  const sim = await startSim(t)
  const spa = await startSpa(t)
  const gateway = await startGateway(t, sim, { CORS_ORIGINS: spa.url, BUDGET_USER_DAILY_TOKENS: '100000' })
  const browser = await openBrowser(t)
  const { page } = browser
  const token = userToken('hana')
  const api = apiAs(gateway, token)
  const assistant = page.getByLabel('Assistant')
  const heading = page.locator('#thread-heading')
  const usage = page.locator('#usage')

  // A thread made by another client, with no metadata: its latest run says which assistant it is with.
  const elsewhere = await api('POST', '/threads/runs', { assistant_id: 'curator', thread: { metadata: {}, messages: [{ role: 'user', content: 'from my phone' }] } })
  t.equal(elsewhere.status, 200)

  await page.goto(`${spa.url}/?gateway=${encodeURIComponent(gateway.url)}#token=${token}`)
  await page.getByRole('heading', { name: 'Threads' }).waitFor()
  const before = await usage.textContent() ?? ''
  t.match(before, /^[\d,]+ of 100,000 tokens left today · resets .+$/, 'GET /usage: what is left of the budget, and when it resets')

  for (const [id, title] of [['mentor', 'With the mentor'], ['analyst', 'With the analyst']]) {
    await assistant.selectOption(id!)
    await page.getByLabel('Title').fill(title!)
    await page.getByRole('button', { name: 'New thread' }).click()
    await heading.filter({ hasText: title! }).waitFor()
  }
  const items = await page.locator('#threads li').evaluateAll(lis => lis.map(li => [li.querySelector('button')!.textContent, li.querySelector('.with')?.textContent ?? null]))
  t.same(items.slice(0, 2), [['With the analyst', 'Analyst'], ['With the mentor', 'Mentor']], 'the list says which assistant each thread is with')
  t.match(items[2]![0], /^Untitled · \D+ \d+, \d{4}, \d+:\d{2}/, 'a thread without a title: its creation in local time')
  const listed = (await api('GET', '/threads')).body.data as Array<{ id: string, title: string | null, metadata: Record<string, string> }>
  const byTitle = (title: string) => listed.find(thread => thread.title === title)!
  t.same(byTitle('With the mentor').metadata, { assistant_id: 'mentor' }, 'kept in the thread\'s metadata')
  t.same(byTitle('With the analyst').metadata, { assistant_id: 'analyst' })

  await page.getByLabel('Message').fill('How am I doing?')
  await page.getByRole('button', { name: 'Send' }).click()
  await page.getByRole('status').filter({ hasText: 'Answer complete.' }).waitFor()
  const runs = (await api('GET', `/threads/${byTitle('With the analyst').id}/runs`)).body.data
  t.equal(runs[0].assistant_id, 'analyst', 'the run went to the thread\'s assistant')
  await usage.filter({ hasNotText: before }).waitFor()
  t.ok(Number((await usage.textContent())!.split(' ')[0]!.replace(/,/g, '')) < Number(before.split(' ')[0]!.replace(/,/g, '')), 'the remaining budget went down after the answer')

  // Opening a thread picks its assistant: from its metadata, or from its latest run.
  await page.getByRole('button', { name: 'With the mentor' }).click()
  await heading.filter({ hasText: 'With the mentor' }).waitFor()
  t.equal(await assistant.inputValue(), 'mentor')
  await page.locator('#threads li button').nth(2).click()
  await page.locator('#messages .assistant').waitFor()
  t.equal(await assistant.inputValue(), 'curator', 'a thread without the metadata: its latest run\'s assistant')
  await page.getByRole('button', { name: 'With the analyst' }).click()
  await heading.filter({ hasText: 'With the analyst' }).waitFor()
  t.equal(await assistant.inputValue(), 'analyst')
  await page.reload()
  await heading.filter({ hasText: 'With the analyst' }).waitFor()
  t.equal(await assistant.inputValue(), 'analyst', 'after a reload too')

  // A thread is with the assistant that last answered in it.
  await assistant.selectOption('curator')
  await page.getByLabel('Message').fill('And you, curator?')
  await page.getByRole('button', { name: 'Send' }).click()
  await page.getByRole('status').filter({ hasText: 'Answer complete.' }).waitFor()
  await page.locator('#threads li').filter({ hasText: 'With the analyst' }).filter({ hasText: 'Curator' }).waitFor()
  t.same((await api('GET', `/threads/${byTitle('With the analyst').id}`)).body.metadata, { assistant_id: 'curator' }, 'its metadata follows')
  t.same((await api('GET', `/threads/${byTitle('With the mentor').id}`)).body.metadata, { assistant_id: 'mentor' }, 'picking an assistant changes no other thread')

  // Rename.
  await page.getByRole('button', { name: 'Rename' }).click()
  t.equal(await page.getByLabel('Rename to').inputValue(), 'With the analyst', 'the form starts from the current title')
  await page.getByLabel('Rename to').fill('Progress review')
  await page.getByRole('button', { name: 'Save' }).click()
  await heading.filter({ hasText: 'Progress review' }).waitFor()
  t.equal(await page.locator('#threads button[aria-current="true"]').textContent(), 'Progress review')
  t.equal(await page.locator('#rename').isVisible(), false, 'the form closes')
  t.equal((await api('GET', `/threads/${byTitle('With the analyst').id}`)).body.title, 'Progress review', 'POST /threads/:id renamed it')

  // Delete: asked first; dismissed, nothing happens.
  page.once('dialog', dialog => { dialog.dismiss() })
  await page.getByRole('button', { name: 'Delete thread' }).click()
  t.equal((await api('GET', `/threads/${byTitle('With the analyst').id}`)).status, 200, 'a dismissed confirmation deletes nothing')
  let question = ''
  page.once('dialog', dialog => { question = dialog.message(); dialog.accept() })
  await page.getByRole('button', { name: 'Delete thread' }).click()
  await page.getByRole('status').filter({ hasText: 'Thread deleted.' }).waitFor()
  t.equal(question, 'Delete "Progress review" and all its messages? This cannot be undone.')
  t.equal(await heading.textContent(), 'Pick or create a thread')
  t.equal(await page.getByLabel('Message').isVisible(), false, 'no composer without a thread')
  t.notMatch(page.url(), /thread=/, 'the address no longer names it')
  t.same(await page.locator('#threads li button').allTextContents().then(texts => texts.filter(text => !text.startsWith('Untitled'))), ['With the mentor'])
  t.equal((await api('GET', `/threads/${byTitle('With the analyst').id}`)).status, 404, 'DELETE /threads/:id deleted it')

  t.equal(await page.locator('#error').isVisible(), false, 'no error on the page')
  t.same(browser.console.filter(line => /^(error|pageerror)/.test(line)), [], 'no console errors')
  t.same(sim.nonconforming(), [])
})
