import { spawnSync } from 'node:child_process'
import { mkdirSync, readdirSync, statSync, utimesSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import OpenAI from 'openai'
import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { build, startSim, tempDir, SIM_KEY, type BuildOptions } from '../helpers/build.ts'
import { bearer, userToken } from '../helpers/tokens.ts'
import { form, type FormPart } from '../fixtures/form.ts'
import { gif, media, pdf, png, refused, text, wav } from '../fixtures/samples.ts'
import { entriesIn } from '../fixtures/stream-upload.ts'
import { createSqliteStore } from '../../services/store/sqlite-store.ts'
import { SPOOL_HOST } from '../../services/uploads/spool.ts'
import type { Simulator } from '../../simulator/index.ts'

const alice = bearer(userToken('alice'))
const bob = bearer(userToken('bob'))
const UPSTREAM = 'POST /v1/files'

async function setup (t: Test, env: Record<string, string> = {}, options: Omit<BuildOptions, 'env'> = {}) {
  const sim = await startSim(t)
  const spool = tempDir(t, 'agw-spool-')
  const app = await build(t, sim, { ...options, env: { UPLOAD_TMP_DIR: spool, ...env } })
  const client = new OpenAI({ apiKey: SIM_KEY, baseURL: sim.url, maxRetries: 0 })
  return { sim, app, spool, client }
}

function upload (app: FastifyInstance, parts: FormPart[], headers: Record<string, string> = alice) {
  const body = form(parts)
  return app.inject({ method: 'POST', url: '/api/openai/files', headers: { ...headers, ...body.headers }, payload: body.payload })
}

const upstreamCalls = (sim: Simulator, key = UPSTREAM) => sim.counters()[key] ?? 0

t.test('every accepted file kind is stored upstream and indexed with the type its bytes show', async t => {
  const { sim, app, client, spool } = await setup(t)
  const cases: Array<[Buffer, string, string, string, string]> = [
    [pdf(), 'report.pdf', 'application/pdf', 'report.pdf', 'application/pdf'],
    [png(), 'chart', 'application/octet-stream', 'chart.png', 'image/png'],
    [media('pixel.jpg'), 'photo.jpeg', 'image/jpeg', 'photo.jpeg', 'image/jpeg'],
    [media('pixel.webp'), 'sticker.webp', 'image/webp', 'sticker.webp', 'image/webp'],
    [gif(), 'anim.gif', 'image/gif', 'anim.gif', 'image/gif'],
    [text.plain(), 'notes.txt', 'text/plain', 'notes.txt', 'text/plain'],
    [text.markdown(), 'agenda.md', 'application/octet-stream', 'agenda.md', 'text/markdown'],
    [text.csv(), 'scores.csv', 'text/csv', 'scores.csv', 'text/csv'],
    [text.json(), 'quiz.json', 'application/json', 'quiz.json', 'application/json'],
    [text.bom(), 'bom.txt', 'text/plain', 'bom.txt', 'text/plain']
  ]
  for (const [data, filename, type, shown, mime] of cases) {
    const res = await upload(app, [{ name: 'file', filename, type, data }])
    t.equal(res.statusCode, 201, filename)
    const file = res.json()
    t.same(Object.keys(file).sort(), ['bytes', 'created_at', 'filename', 'id', 'object', 'purpose', 'status', 'status_details'])
    t.match(file, { object: 'file', filename: shown, bytes: data.length, purpose: 'user_data' })
    t.match(file.id, /^file-/)
    t.match(await app.store.getFile(file.id), { owner: 'alice', mime, bytes: data.length }, `${filename} indexed as ${mime}`)
    t.match(await client.files.retrieve(file.id), { bytes: data.length, filename: shown, purpose: 'user_data' }, 'the whole file reached OpenAI')
  }
  const vision = await upload(app, [{ name: 'file', filename: 'a.png', data: png() }, { name: 'purpose', value: 'vision' }])
  t.equal(vision.json().purpose, 'vision')
  const assistants = await upload(app, [{ name: 'file', filename: 'notes.txt', data: text.plain() }, { name: 'purpose', value: 'assistants' }])
  t.equal(assistants.json().purpose, 'user_data', 'Assistants-era purpose "assistants" is stored as user_data')
  t.equal(upstreamCalls(sim), cases.length + 2)
  const visionOnly = (await app.inject({ url: '/api/openai/files?purpose=vision', headers: alice })).json()
  t.same(visionOnly.data.map((f: { id: string }) => f.id), [vision.json().id], '?purpose= lists only that purpose')
  const userData = (await app.inject({ url: '/api/openai/files?purpose=assistants&limit=3', headers: alice })).json()
  t.equal(userData.data.length, 3)
  t.ok(userData.data.every((f: { purpose: string }) => f.purpose === 'user_data'))
  t.equal(userData.has_more, true)
  const rest = (await app.inject({ url: `/api/openai/files?purpose=user_data&limit=100&after=${userData.last_id}`, headers: alice })).json()
  t.equal(userData.data.length + rest.data.length, cases.length + 1, 'the pages add up to every user_data file')
  t.equal(rest.has_more, false)
  const content = await app.inject({ url: `/api/openai/files/${vision.json().id}/content`, headers: alice })
  t.equal(content.statusCode, 400)
  t.match(content.json().message, /does not serve file downloads/)
  t.same(entriesIn(spool), [])
  t.same(sim.nonconforming(), [])
})

t.test('refused: lying types (415), bad forms (400), oversize (413); nothing goes upstream', async t => {
  const { sim, app, spool } = await setup(t, { UPLOAD_FILE_MAX_BYTES: '65536' })
  const refusedCases: Array<[string, Buffer, string, string]> = [
    ['an executable named report.pdf', refused.exe(), 'report.pdf', 'application/pdf'],
    ['an ELF binary named cat.png', refused.elf(), 'cat.png', 'image/png'],
    ['a zip named notes.txt', refused.zip(), 'notes.txt', 'text/plain'],
    ['a HEIF image (not accepted)', refused.heic(), 'photo.jpg', 'image/jpeg'],
    ['audio is not a file', wav(), 'notes.pdf', 'application/pdf'],
    ['JSON that does not parse', refused.badJson(), 'data.json', 'application/json'],
    ['UTF-16 text', refused.utf16(), 'notes.txt', 'text/plain'],
    ['invalid UTF-8', refused.badUtf8(), 'notes.md', 'text/markdown'],
    ['random bytes', refused.random(), 'blob.txt', 'text/plain']
  ]
  for (const [name, data, filename, type] of refusedCases) {
    const res = await upload(app, [{ name: 'file', filename, type, data }])
    t.equal(res.statusCode, 415, name)
    t.equal(res.json().code, 'UNSUPPORTED_MEDIA_TYPE', name)
  }
  const file = { name: 'file', filename: 'a.pdf', data: pdf() }
  const invalid: Array<[string, FormPart[], RegExp]> = [
    ['missing file', [{ name: 'purpose', value: 'vision' }], /^body\.file is required$/],
    ['two files', [file, file], /^Send one file per request$/],
    ['audio field', [{ ...file, name: 'audio' }], /^body\.audio is not allowed/],
    ['bad purpose', [file, { name: 'purpose', value: 'fine-tune' }], /^body\.purpose must be one of "user_data", "vision", "assistants"$/],
    ['unknown field', [file, { name: 'expires_after', value: '3600' }], /^body\.expires_after is not allowed$/]
  ]
  for (const [name, parts, message] of invalid) {
    const res = await upload(app, parts)
    t.equal(res.statusCode, 400, name)
    t.match(res.json().message, message, name)
  }
  const big = await upload(app, [{ name: 'file', filename: 'big.txt', data: Buffer.alloc(70_000, 0x61) }])
  t.equal(big.statusCode, 413, 'declared length over the limit')
  const bigButFits = await upload(app, [{ name: 'file', filename: 'big.txt', data: Buffer.alloc(65_537, 0x61) }])
  t.equal(bigButFits.statusCode, 413, 'within the form overhead but over the file limit: counted while streaming')
  t.equal(bigButFits.json().message, 'The upload is larger than the limit of 65536 bytes')
  t.equal(upstreamCalls(sim), 0)
  t.same(entriesIn(spool), [])
})

t.test('list, get and delete the caller\'s files; someone else\'s are 404 like unknown ids', async t => {
  const { sim, app, client } = await setup(t)
  const ids: string[] = []
  for (let i = 0; i < 5; i++) ids.push((await upload(app, [{ name: 'file', filename: `n${i}.txt`, data: Buffer.from(`note ${i}`) }])).json().id)
  const bobs = (await upload(app, [{ name: 'file', filename: 'bob.pdf', data: pdf() }], bob)).json().id

  const page1 = (await app.inject({ url: '/api/openai/files?limit=2', headers: alice })).json()
  t.same(page1.data.map((f: { id: string }) => f.id), [ids[4], ids[3]])
  t.match(page1, { object: 'list', first_id: ids[4], last_id: ids[3], has_more: true })
  const page2 = (await app.inject({ url: `/api/openai/files?limit=2&after=${page1.last_id}`, headers: alice })).json()
  t.same(page2.data.map((f: { id: string }) => f.id), [ids[2], ids[1]])
  const asc = (await app.inject({ url: '/api/openai/files?order=asc&limit=100', headers: alice })).json()
  t.same(asc.data.map((f: { id: string }) => f.id), ids)
  t.equal(asc.has_more, false)
  t.same((await app.inject({ url: '/api/openai/files', headers: bob })).json().data.map((f: { id: string }) => f.id), [bobs])

  const got = await app.inject({ url: `/api/openai/files/${ids[0]}`, headers: alice })
  t.match(got.json(), { id: ids[0], object: 'file', filename: 'n0.txt', bytes: 6 })

  const strip = (body: Record<string, unknown>) => ({ ...body, requestId: undefined })
  const foreign = await app.inject({ url: `/api/openai/files/${bobs}`, headers: alice })
  const unknown = await app.inject({ url: '/api/openai/files/file-doesnotexist', headers: alice })
  t.equal(foreign.statusCode, 404)
  t.same(strip(foreign.json()), strip(unknown.json()), 'a foreign id reads exactly like an unknown one')
  const foreignDelete = await app.inject({ method: 'DELETE', url: `/api/openai/files/${bobs}`, headers: alice })
  t.equal(foreignDelete.statusCode, 404)
  t.same(strip(foreignDelete.json()), strip((await app.inject({ method: 'DELETE', url: '/api/openai/files/file-nope', headers: alice })).json()))
  t.equal(upstreamCalls(sim, 'DELETE /v1/files/{file_id}'), 0, 'nothing deleted upstream for a foreign id')

  const deleted = await app.inject({ method: 'DELETE', url: `/api/openai/files/${ids[0]}`, headers: alice })
  t.equal(deleted.statusCode, 200)
  t.same(deleted.json(), { id: ids[0], object: 'file', deleted: true })
  t.ok(await client.files.retrieve(ids[0]!).catch((err: unknown) => err) instanceof OpenAI.NotFoundError, 'deleted upstream too')
  t.equal((await app.inject({ url: `/api/openai/files/${ids[0]}`, headers: alice })).statusCode, 404)
  t.equal((await app.inject({ method: 'DELETE', url: `/api/openai/files/${ids[0]}`, headers: alice })).statusCode, 404)

  // Gone upstream already (deleted there, expired): the record still goes.
  await client.files.delete(ids[1]!)
  t.equal((await app.inject({ method: 'DELETE', url: `/api/openai/files/${ids[1]}`, headers: alice })).statusCode, 200)
  t.equal(await app.store.getFile(ids[1]!), null)
  t.same(sim.nonconforming(), [])
})

t.test('an uploaded PDF and image become input_file and input_image parts of a message; bob cannot attach alice\'s', async t => {
  const { sim, app } = await setup(t)
  const doc = (await upload(app, [{ name: 'file', filename: 'homework.pdf', data: pdf('Solve x + 1 = 2') }])).json()
  const image = (await upload(app, [{ name: 'file', filename: 'graph.png', data: png() }, { name: 'purpose', value: 'vision' }])).json()
  const thread = (await app.inject({ method: 'POST', url: '/api/openai/threads', headers: alice, payload: {} })).json()
  const message = await app.inject({
    method: 'POST',
    url: `/api/openai/threads/${thread.id}/messages`,
    headers: alice,
    payload: { content: 'Check my homework', attachments: [{ file_id: doc.id }, { file_id: image.id }] }
  })
  t.equal(message.statusCode, 201)
  t.same(message.json().attachments, [{ file_id: doc.id, tools: [] }, { file_id: image.id, tools: [] }])
  t.match(sim.peek.conversation(thread.id)!.items.at(-1), {
    type: 'message',
    role: 'user',
    content: [
      { type: 'input_text', text: 'Check my homework' },
      { type: 'input_file', file_id: doc.id },
      { type: 'input_image', file_id: image.id }
    ]
  })

  const bobsThread = (await app.inject({ method: 'POST', url: '/api/openai/threads', headers: bob, payload: {} })).json()
  const attach = (fileId: string) => app.inject({
    method: 'POST', url: `/api/openai/threads/${bobsThread.id}/messages`, headers: bob, payload: { content: 'mine now', attachments: [{ file_id: fileId }] }
  })
  const stolen = await attach(doc.id)
  const unknown = await attach('file-doesnotexist')
  t.equal(stolen.statusCode, 404)
  t.equal(stolen.json().code, 'NOT_FOUND')
  t.equal(stolen.json().message.replace(doc.id, '<id>'), unknown.json().message.replace('file-doesnotexist', '<id>'), 'same answer as an unknown id')
  t.equal(sim.peek.conversation(bobsThread.id)!.items.length, 0, 'nothing was added to bob\'s thread')
  t.same(sim.nonconforming(), [])
})

t.test('Idempotency-Key: a retried upload is replayed, a different file under the same key is 422', async t => {
  const { sim, app } = await setup(t)
  const key = { ...alice, 'idempotency-key': 'upload-1' }
  const first = await upload(app, [{ name: 'file', filename: 'a.pdf', data: pdf() }], key)
  t.equal(first.statusCode, 201)
  const again = await upload(app, [{ name: 'file', filename: 'a.pdf', data: pdf() }], key)
  t.equal(again.statusCode, 201)
  t.equal(again.headers['idempotent-replayed'], 'true')
  t.same(again.json(), first.json())
  t.equal(upstreamCalls(sim), 1, 'uploaded once')
  const other = await upload(app, [{ name: 'file', filename: 'a.pdf', data: pdf('another document') }], key)
  t.equal(other.statusCode, 422)
  t.equal(other.json().code, 'IDEMPOTENCY_KEY_REUSED')
  const bad = await upload(app, [{ name: 'file', filename: 'a.pdf', data: pdf() }], { ...alice, 'idempotency-key': 'bad key\u0001' })
  t.equal(bad.statusCode, 400)
  t.equal(upstreamCalls(sim), 1)
  t.equal((await app.inject({ url: '/api/openai/files', headers: alice })).json().data.length, 1)
})

t.test('upstream faults map to the contract; the spool goes either way', async t => {
  const { sim, app, spool } = await setup(t, { OPENAI_TIMEOUT_MS: '300' })
  const cases: Array<[Record<string, unknown>, number, string]> = [
    [{ kind: 'status', status: 500 }, 502, 'UPSTREAM_ERROR'],
    [{ kind: 'status', status: 429, retryAfter: 3 }, 503, 'UPSTREAM_UNAVAILABLE'],
    [{ kind: 'status', status: 413 }, 413, 'PAYLOAD_TOO_LARGE'],
    [{ kind: 'hang' }, 504, 'UPSTREAM_TIMEOUT'],
    [{ kind: 'reset' }, 502, 'UPSTREAM_ERROR']
  ]
  for (const [fault, status, code] of cases) {
    sim.faults.add({ route: UPSTREAM, times: 1, ...fault } as Parameters<typeof sim.faults.add>[0])
    const res = await upload(app, [{ name: 'file', filename: 'a.pdf', data: pdf() }])
    t.equal(res.statusCode, status, JSON.stringify(fault))
    t.equal(res.json().code, code)
  }
  t.same((await app.inject({ url: '/api/openai/files', headers: alice })).json().data, [], 'nothing indexed')
  t.same(entriesIn(spool), [])
  t.same(sim.nonconforming(), [])
})

t.test('ten uploads at once', async t => {
  const { sim, app, spool, client } = await setup(t)
  const files = Array.from({ length: 10 }, (_, i) => i % 2 ? pdf(`document ${i}`) : Buffer.from(`note number ${i}\n`.repeat(i + 1)))
  const results = await Promise.all(files.map((data, i) => upload(app, [{ name: 'file', filename: `f${i}`, data }], bearer(userToken(`user-${i % 3}`)))))
  for (const [i, res] of results.entries()) {
    t.equal(res.statusCode, 201, `upload ${i}`)
    t.equal(res.json().bytes, files[i]!.length)
    t.match(await app.store.getFile(res.json().id), { owner: `user-${i % 3}`, mime: i % 2 ? 'application/pdf' : 'text/plain' })
    t.equal((await client.files.retrieve(res.json().id)).bytes, files[i]!.length)
  }
  t.equal(new Set(results.map(r => r.json().id)).size, 10)
  t.equal(upstreamCalls(sim), 10)
  t.same(entriesIn(spool), [])
  t.same(sim.nonconforming(), [])
})

t.test('a file OpenAI took but the store could not record is deleted upstream again', async t => {
  const real = createSqliteStore({ path: ':memory:', clock: Date.now })
  t.teardown(() => real.close())
  const store = { ...real, createFile: async () => { throw new Error('disk full') } }
  const { sim, app, client } = await setup(t, {}, { store })
  const res = await upload(app, [{ name: 'file', filename: 'a.pdf', data: pdf() }])
  t.equal(res.statusCode, 500)
  t.equal(upstreamCalls(sim), 1)
  t.equal(upstreamCalls(sim, 'DELETE /v1/files/{file_id}'), 1)
  t.same((await client.files.list()).data, [], 'no orphan upstream')
  t.equal(res.json().code, 'INTERNAL_ERROR')
  t.notMatch(res.body, /disk full/)
})

t.test('the spool directory is created when missing; spools a dead process left behind are removed at start', async t => {
  const parent = tempDir(t)
  const spool = join(parent, 'spool', 'nested')
  const first = await build(t, null, { env: { UPLOAD_TMP_DIR: spool } })
  t.equal(statSync(spool).mode & 0o777, 0o700, 'created private')
  await first.close()

  mkdirSync(join(spool, 'agw-upload-old'))
  writeFileSync(join(spool, 'agw-upload-old', 'upload'), 'left behind')
  const twoHoursAgo = new Date(Date.now() - 2 * 3600_000)
  utimesSync(join(spool, 'agw-upload-old'), twoHoursAgo, twoHoursAgo)
  mkdirSync(join(spool, 'agw-upload-current'))
  mkdirSync(join(spool, 'someone-else'))
  utimesSync(join(spool, 'someone-else'), twoHoursAgo, twoHoursAgo)
  // Named after their host and process: this host's dead process, this process id from before this process
  // started (a container's PID 1, restarted), this process now (another app in it), another host's.
  const deadPid = spawnSync('true').pid!
  const mine = (pid: number, host = SPOOL_HOST) => `agw-upload-${host}-${pid}-AbC123`
  for (const name of [mine(deadPid), mine(process.pid), mine(process.pid).replace('AbC123', 'XyZ789'), mine(deadPid, 'other-host')]) mkdirSync(join(spool, name))
  const beforeStart = new Date(performance.timeOrigin - 60_000)
  utimesSync(join(spool, mine(process.pid)), beforeStart, beforeStart)
  await build(t, null, { env: { UPLOAD_TMP_DIR: spool } })
  t.same(readdirSync(spool).sort(), ['agw-upload-current', mine(deadPid, 'other-host'), mine(process.pid).replace('AbC123', 'XyZ789'), 'someone-else'].sort(),
    'stale spools of no known owner go, and this host\'s of a dead process, at once')
})
