import { existsSync, statSync } from 'node:fs'
import { createServer, request, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import { dirname } from 'node:path'
import t, { type Test } from 'tap'
import { AUDIO_KINDS, FILE_KINDS } from '../../../services/uploads/media-types.ts'
import { FORM_OVERHEAD_BYTES, receiveUpload, type ReceivedUpload, type UploadSpec } from '../../../services/uploads/spool.ts'
import { tempDir } from '../../helpers/build.ts'
import { BOUNDARY, form, type FormPart } from '../../fixtures/form.ts'
import { pdf, wav } from '../../fixtures/samples.ts'
import { entriesIn } from '../../fixtures/stream-upload.ts'

const FILE_SPEC: UploadSpec = { fileFields: ['file'], fields: ['purpose'], accept: FILE_KINDS, maxFileBytes: 64 * 1024 }

type Outcome = { upload: ReceivedUpload, listing: string[] } | { error: { code?: string, message: string }, listing: string[] }

/**
 * A bare node:http server whose only job is receiveUpload: what the gateway's routes do, without
 * Fastify, so the spool's own guarantees are tested directly. The listing is taken when the
 * promise settles.
 */
async function server (t: Test, spec: UploadSpec, dir: string) {
  const outcomes: Outcome[] = []
  const srv = createServer((req: IncomingMessage, res) => {
    receiveUpload(req, spec, { dir, timeoutMs: 5000 }).then(
      upload => { outcomes.push({ upload, listing: entriesIn(dir) }); res.end('ok') },
      (error: Error & { code?: string }) => { outcomes.push({ error, listing: entriesIn(dir) }); res.setHeader('connection', 'close'); res.end(error.message) }
    )
  })
  await new Promise<void>(resolve => srv.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise(resolve => srv.close(resolve)))
  const url = `http://127.0.0.1:${(srv.address() as AddressInfo).port}/`
  const send = (body: Buffer, headers: Record<string, string> = form([]).headers) => new Promise<Outcome>(resolve => {
    const chunked = headers['transfer-encoding'] === 'chunked'
    const req = request(url, { method: 'POST', headers: chunked ? headers : { ...headers, 'content-length': String(body.length) } }, res => {
      res.resume()
      res.on('end', () => resolve(outcomes.at(-1)!))
    })
    // A server that stops reading may reset the connection before its answer is read; the outcome is recorded first.
    req.on('error', () => resolve(outcomes.at(-1)!))
    req.end(body)
  })
  return { send, post: (parts: FormPart[]) => send(form(parts).payload) }
}

t.test('a received upload: private spool, our own file name, cleaned display name, fields', async t => {
  const dir = tempDir(t)
  const { post } = await server(t, FILE_SPEC, dir)
  const outcome = await post([{ name: 'purpose', value: 'vision' }, { name: 'file', filename: '../../../etc/cron.d/evil.pdf', type: 'text/plain', data: pdf() }])
  if (!('upload' in outcome)) return t.fail(outcome.error.message)
  const { upload } = outcome
  t.equal(dirname(dirname(upload.path)), dir, 'the spool is a directory of its own under the configured one')
  t.match(upload.path, /\/agw-upload-[^/]+\/upload$/, 'the file name is ours')
  t.equal(statSync(upload.path).mode & 0o777, 0o600)
  t.equal(statSync(dirname(upload.path)).mode & 0o777, 0o700)
  t.equal(upload.filename, 'evil.pdf')
  t.equal(upload.type.kind, 'pdf')
  t.equal(upload.bytes, pdf().length)
  t.same(upload.fields, { purpose: 'vision' })
  await upload.cleanup()
  await upload.cleanup()
  t.notOk(existsSync(dirname(upload.path)))
  t.same(entriesIn(dir), [])
})

t.test('every byte of the request counts, not only the file\'s', async t => {
  const dir = tempDir(t)
  const { send } = await server(t, FILE_SPEC, dir)
  // busboy skips a preamble before the first boundary: a way to push bytes past a file-only limit.
  const body = form([{ name: 'file', filename: 'a.pdf', data: pdf() }]).payload
  const preamble = Buffer.alloc(FORM_OVERHEAD_BYTES + FILE_SPEC.maxFileBytes, 0x20)
  const outcome = await send(Buffer.concat([preamble, Buffer.from('\r\n'), body]), { 'content-type': `multipart/form-data; boundary=${BOUNDARY}`, 'transfer-encoding': 'chunked' })
  t.ok('error' in outcome && outcome.error.code === 'PAYLOAD_TOO_LARGE', 'refused')
  const small = await send(Buffer.concat([Buffer.alloc(1000, 0x20), Buffer.from('\r\n'), body]))
  t.ok('upload' in small, 'a small preamble is harmless')
  if ('upload' in small) await small.upload.cleanup()
})

t.test('a failure removes the spool before it is reported', async t => {
  const dir = tempDir(t)
  const { post } = await server(t, { ...FILE_SPEC, accept: AUDIO_KINDS }, dir)
  const outcome = await post([{ name: 'file', filename: 'a.wav', data: Buffer.concat([wav(), Buffer.alloc(70 * 1024)]) }])
  t.ok('error' in outcome && outcome.error.code === 'PAYLOAD_TOO_LARGE')
  t.same(outcome.listing, [], 'nothing left when the caller learns of the failure')
  const wrong = await post([{ name: 'file', filename: 'a.wav', data: pdf() }])
  t.ok('error' in wrong && wrong.error.code === 'UNSUPPORTED_MEDIA_TYPE')
  t.same(wrong.listing, [])
})
