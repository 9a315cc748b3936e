import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { build, startSim, tempDir } from '../helpers/build.ts'
import { bearer, userToken } from '../helpers/tokens.ts'
import { form } from '../fixtures/form.ts'
import { text } from '../fixtures/samples.ts'
import type { Simulator } from '../../simulator/index.ts'

const alice = bearer(userToken('alice'))
const bob = bearer(userToken('bob'))

async function setup (t: Test, env: Record<string, string>) {
  const sim = await startSim(t)
  const app = await build(t, sim, { env: { UPLOAD_TMP_DIR: tempDir(t), RATE_LIMIT_MAX: '1000', RATE_LIMIT_UPLOADS_MAX: '1000', ...env } })
  return { sim, app }
}

const newThread = (app: FastifyInstance, headers = alice) => app.inject({ method: 'POST', url: '/api/openai/threads', headers, payload: { title: 'x' } })
function upload (app: FastifyInstance, headers = alice) {
  const body = form([{ name: 'file', filename: 'notes.txt', type: 'text/plain', data: text.plain() }])
  return app.inject({ method: 'POST', url: '/api/openai/files', headers: { ...headers, ...body.headers }, payload: body.payload })
}
const usage = async (app: FastifyInstance, headers = alice) => (await app.inject({ url: '/api/openai/usage', headers })).json()
const calls = (sim: Simulator, route: string) => sim.counters()[route] ?? 0

function refusedAtCap (t: Test, res: Awaited<ReturnType<FastifyInstance['inject']>>, what: RegExp) {
  t.equal(res.statusCode, 409)
  const body = res.json()
  t.equal(body.code, 'QUOTA_EXCEEDED')
  t.match(body.error, { type: 'invalid_request_error', code: 'QUOTA_EXCEEDED', param: null })
  t.match(body.message, what)
  t.equal(res.headers['x-should-retry'], 'false', 'a retry cannot help until something is deleted')
}

t.test('THREADS_MAX_PER_USER: one more is 409 QUOTA_EXCEEDED naming the cap, before any upstream call; a delete frees a place; /usage shows it', async t => {
  const { sim, app } = await setup(t, { THREADS_MAX_PER_USER: '3' })
  const ids: string[] = []
  for (let i = 0; i < 3; i++) {
    const res = await newThread(app)
    t.equal(res.statusCode, 201)
    ids.push(res.json().id)
  }
  const created = calls(sim, 'POST /v1/conversations')
  refusedAtCap(t, await newThread(app), /at most 3 threads/)
  t.equal(calls(sim, 'POST /v1/conversations'), created, 'no conversation was created for the refused thread')
  t.equal((await newThread(app, bob)).statusCode, 201, 'the cap is per user')
  t.match(await usage(app), { stored: { threads: { count: 3, limit: 3 }, files: { count: 0, limit: 100 } } })

  t.equal((await app.inject({ method: 'DELETE', url: `/api/openai/threads/${ids[0]}`, headers: alice })).statusCode, 200)
  t.match(await usage(app), { stored: { threads: { count: 2, limit: 3 } } })
  t.equal((await newThread(app)).statusCode, 201, 'a deleted thread frees its place')
})

t.test('THREADS_MAX_PER_USER holds under concurrent creates; a conversation made for a refused one is deleted upstream', async t => {
  const { sim, app } = await setup(t, { THREADS_MAX_PER_USER: '3' })
  const results = await Promise.all(Array.from({ length: 12 }, () => newThread(app)))
  t.equal(results.filter(r => r.statusCode === 201).length, 3, 'exactly the cap')
  for (const res of results.filter(r => r.statusCode !== 201)) refusedAtCap(t, res, /at most 3 threads/)
  t.equal((await app.inject({ url: '/api/openai/threads?limit=100', headers: alice })).json().data.length, 3)
  t.equal(calls(sim, 'POST /v1/conversations') - calls(sim, 'DELETE /v1/conversations/{conversation_id}'), 3, 'no orphaned conversation upstream')
})

t.test('FILES_MAX_PER_USER: one more upload is 409 QUOTA_EXCEEDED and never reaches OpenAI; a delete frees a place', async t => {
  const { sim, app } = await setup(t, { FILES_MAX_PER_USER: '2' })
  const ids: string[] = []
  for (let i = 0; i < 2; i++) {
    const res = await upload(app)
    t.equal(res.statusCode, 201)
    ids.push(res.json().id)
  }
  refusedAtCap(t, await upload(app), /at most 2 files/)
  t.equal(calls(sim, 'POST /v1/files'), 2, 'the refused file was not sent upstream')
  t.equal((await upload(app, bob)).statusCode, 201, 'the cap is per user')
  t.match(await usage(app), { stored: { files: { count: 2, limit: 2 }, threads: { count: 0, limit: 1000 } } })

  const raced = await Promise.all(Array.from({ length: 6 }, () => upload(app, bearer(userToken('carol')))))
  t.equal(raced.filter(r => r.statusCode === 201).length, 2, 'concurrent uploads: exactly the cap')
  t.equal(calls(sim, 'POST /v1/files') - calls(sim, 'DELETE /v1/files/{file_id}'), 5, 'no orphaned upstream file')

  t.equal((await app.inject({ method: 'DELETE', url: `/api/openai/files/${ids[0]}`, headers: alice })).statusCode, 200)
  t.equal((await upload(app)).statusCode, 201, 'a deleted file frees its place')
})

t.test('0 means no cap', async t => {
  const { app } = await setup(t, { THREADS_MAX_PER_USER: '0', FILES_MAX_PER_USER: '0' })
  for (let i = 0; i < 3; i++) t.equal((await newThread(app)).statusCode, 201)
  t.match(await usage(app), { stored: { threads: { count: 3, limit: null }, files: { count: 0, limit: null } } })
})
