/**
 * Re-makes docs/spa.png, the README's picture of the SPA mid-conversation. Not part of `npm run test:e2e`:
 *   PATH=$PWD/node_modules/.bin:$PATH tap --disable-coverage test/e2e/docs-screenshot.ts
 */
import { statSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { startSim } from '../helpers/build.ts'
import { userToken } from '../helpers/tokens.ts'
import { openBrowser, startGateway, startSpa } from './helpers.ts'

const OUT = join(import.meta.dirname, '..', '..', 'docs', 'spa.png')

t.test('screenshot of the SPA mid-conversation for the README', async t => {
  const sim = await startSim(t, { generationMs: 800 })
  // The demo's ports when they are free, so the picture matches what a reader will see.
  const spa = await startSpa(t, { port: 5173 }).catch(() => startSpa(t))
  const gateway = await startGateway(t, sim, { CORS_ORIGINS: spa.url }, 3000).catch(() => startGateway(t, sim, { CORS_ORIGINS: spa.url }))
  const { page } = await openBrowser(t)
  await page.setViewportSize({ width: 1100, height: 680 })

  await page.goto(`${spa.url}/?gateway=${encodeURIComponent(gateway.url)}#token=${userToken('demo-user')}`)
  await page.getByLabel('Assistant').selectOption('curator')
  for (const title of ['Welcome', 'Trip to Lisbon', 'Quarterly report']) {
    await page.getByLabel('Title').fill(title)
    await page.getByRole('button', { name: 'New thread' }).click()
    await page.getByRole('heading', { name: title }).waitFor()
  }
  await page.getByLabel('Attach file').setInputFiles({ name: 'q3-figures.csv', mimeType: 'text/csv', buffer: Buffer.from('quarter,revenue\nQ3,1200\n') })
  await page.getByRole('status').filter({ hasText: 'attached.' }).waitFor()
  await page.getByLabel('Message').fill('Summarise the attached Q3 figures in two sentences.')
  await page.getByRole('button', { name: 'Send' }).click()
  await page.getByRole('status').filter({ hasText: 'Answer complete.' }).waitFor()

  sim.configure({ generationMs: 6000 })
  await page.getByLabel('Message').fill('And what should we watch next quarter?')
  await page.getByRole('button', { name: 'Send' }).click()
  await page.waitForFunction(() => {
    const bodies = document.querySelectorAll('#messages .assistant .body[aria-busy="true"]')
    return (bodies[bodies.length - 1]?.textContent?.length ?? 0) > 90
  })
  await page.getByLabel('Message').fill('Thanks! Could you also')
  await page.screenshot({ path: OUT })
  const bytes = statSync(OUT).size
  t.ok(bytes <= 200 * 1024, `docs/spa.png is ${Math.round(bytes / 1024)} KB`)
})
