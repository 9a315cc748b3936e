import { join } from 'node:path'
import t from 'tap'
import { startSim, tempDir } from '../helpers/build.ts'
import { userToken } from '../helpers/tokens.ts'
import { openBrowser, startGateway, startSpa, writeToneWav } from './helpers.ts'

t.test('voice and files: the fake microphone\'s transcript fills the message box, a file is attached and sent with it', async t => {
  const sim = await startSim(t)
  const spa = await startSpa(t)
  const gateway = await startGateway(t, sim, { CORS_ORIGINS: spa.url })
  const wav = join(tempDir(t, 'agw-wav-'), 'tone.wav')
  writeToneWav(wav)
  // Chromium grants the microphone without asking and plays the WAV as its input.
  const { page } = await openBrowser(t, {
    args: ['--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream', `--use-file-for-fake-audio-capture=${wav}`]
  })

  await page.goto(`${spa.url}/?gateway=${encodeURIComponent(gateway.url)}#token=${userToken('bob')}`)
  await page.getByRole('button', { name: 'New thread' }).click()
  await page.getByLabel('Message').waitFor()

  await page.getByRole('button', { name: 'Record voice' }).click()
  // Let a second of the tone reach the recorder.
  await page.getByRole('status').filter({ hasText: 'Recording… 1 s' }).waitFor()
  await page.getByRole('button', { name: 'Stop recording' }).click()

  await page.getByRole('status').filter({ hasText: 'Transcript added to the message.' }).waitFor()
  const transcript = await page.getByLabel('Message').inputValue()
  t.match(transcript, /^Transcript [0-9a-f]{8} of \d+(\.\d+)? s of audio$/, 'the simulator\'s transcript is in the input')
  t.ok(await page.getByRole('button', { name: 'Record voice' }).isEnabled(), 'the voice button is ready again')
  t.equal(sim.counters()['POST /v1/audio/transcriptions'], 1, 'one transcription upstream')
  t.ok(gateway.requests.includes('POST /api/openai/audio/transcriptions'))

  await page.getByLabel('Attach file').setInputFiles({ name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('Meeting notes: ship the SPA.\n') })
  await page.getByRole('status').filter({ hasText: 'notes.txt attached.' }).waitFor()
  t.equal(await page.getByRole('list', { name: 'Attached files' }).textContent(), 'Attached: notes.txt Remove')
  await page.getByRole('button', { name: 'Send' }).click()
  await page.getByRole('status').filter({ hasText: 'Answer complete.' }).waitFor()
  const sent = page.locator('#messages .user')
  t.equal(await sent.locator('.body').textContent(), transcript, 'the transcript was sent')
  t.equal(await sent.locator('.file').textContent(), 'Attachment: notes.txt')
  t.equal(await page.getByRole('list', { name: 'Attached files' }).locator('li').count(), 0, 'the composer is cleared')
  t.equal(sim.counters()['POST /v1/files'], 1, 'one file upstream')

  // After a reload the page knows only the file id from the history, and looks the name up.
  await page.reload()
  await page.locator('#messages .user .file').filter({ hasText: 'Attachment: notes.txt' }).waitFor()
  t.ok(gateway.requests.some(r => /^GET \/api\/openai\/files\/[^/]+$/.test(r)), 'the name came from GET /files/:id')
  t.equal(await page.locator('#error').isVisible(), false, 'no error on the page')
  t.same(sim.nonconforming(), [])
})
