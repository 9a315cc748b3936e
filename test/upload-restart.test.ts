import { existsSync, statSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { startGatewayProcess } from './helpers/process.ts'
import { startSim, tempDir, testEnv } from './helpers/build.ts'
import { bearer, userToken } from './helpers/tokens.ts'
import { until } from './helpers/until.ts'
import { BOUNDARY, filePartHead } from './fixtures/form.ts'
import { entriesIn, streamUpload } from './fixtures/stream-upload.ts'

const headers = { ...bearer(userToken('alice')), 'content-type': `multipart/form-data; boundary=${BOUNDARY}` }
const head = filePartHead({ name: 'file', filename: 'notes.txt', type: 'text/plain' })
const line = Buffer.from('a private note, spooled while it arrives\n'.repeat(1600))

/** The spooled file of an upload in flight, once it holds some bytes. */
const spooledFile = (spool: string) => entriesIn(spool).map(entry => join(spool, entry)).find(path => path.endsWith('/upload') && statSync(path).size > 0)

t.test('a gateway killed (SIGKILL) mid-upload: the next start removes the spool it left, at once', async t => {
  const sim = await startSim(t)
  const dir = tempDir(t)
  const spool = join(dir, 'spool')
  const env = testEnv(sim, { SQLITE_PATH: join(dir, 'gw.db'), UPLOAD_TMP_DIR: spool })

  const first = await startGatewayProcess(t, env)
  // A slow client: the head and some of the file, then nothing (the connection stays open).
  const upload = streamUpload(`${first.url}/api/openai/files`, { headers, prefix: Buffer.concat([head, line]), filler: line, maxBytes: 10 * line.length, stallAfter: 4 * line.length })
  const left = await until(() => spooledFile(spool), { message: 'the upload to be spooled' })
  first.child.kill('SIGKILL')
  await first.exited
  await upload
  t.ok(existsSync(left), 'the killed process left its spool behind')

  await startGatewayProcess(t, env)
  t.same(entriesIn(spool), [], 'the next start removed it')
})

t.test('a starting gateway leaves the spools of a running one alone', async t => {
  const sim = await startSim(t)
  const dir = tempDir(t)
  const spool = join(dir, 'spool')
  const env = testEnv(sim, { SQLITE_PATH: join(dir, 'gw.db'), UPLOAD_TMP_DIR: spool })

  const running = await startGatewayProcess(t, env)
  let abort = () => {}
  const upload = streamUpload(`${running.url}/api/openai/files`, {
    headers,
    prefix: Buffer.concat([head, line]),
    filler: line,
    maxBytes: 10 * line.length,
    stallAfter: 4 * line.length,
    onProgress: (_sent, stop) => { abort = stop }
  })
  const spooled = await until(() => spooledFile(spool), { message: 'the upload to be spooled' })
  await startGatewayProcess(t, { ...env, SQLITE_PATH: join(dir, 'other.db') })
  t.ok(existsSync(spooled), 'the running gateway\'s spool is still there')
  abort()
  await upload
  await until(() => entriesIn(spool).length === 0, { message: 'the running gateway to remove the spool of the upload that went away' })
})
