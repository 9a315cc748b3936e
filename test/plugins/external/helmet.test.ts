import Fastify from 'fastify'
import fastifyHelmet from '@fastify/helmet'
import t from 'tap'
import helmetHeaders, { autoConfig, securityHeaders } from '../../../plugins/external/helmet.ts'

async function headersOf (register: (app: ReturnType<typeof Fastify>) => Promise<unknown>, url = '/') {
  const app = Fastify()
  await register(app)
  app.get('/', async () => ({ ok: true }))
  app.get('/boom', async () => { throw new Error('boom') })
  const res = await app.inject({ url })
  await app.close()
  const { date: _date, 'content-length': _length, ...rest } = res.headers
  return rest
}

t.test('the headers computed once are exactly those @fastify/helmet sets on every request, errors and 404s included', async t => {
  for (const url of ['/', '/boom', '/missing']) {
    const ours = await headersOf(app => app.register(helmetHeaders, autoConfig), url)
    const theirs = await headersOf(app => app.register(fastifyHelmet, { global: true, ...autoConfig }), url)
    t.same(ours, theirs, url)
  }
  t.match(securityHeaders(autoConfig), {
    'content-security-policy': /^default-src 'self';.*frame-ancestors 'none'.*connect-src 'self'$/,
    'cross-origin-resource-policy': 'cross-origin',
    'x-content-type-options': 'nosniff'
  })
})

t.test('a route that sets its own header (Swagger UI\'s CSP) keeps it', async t => {
  const app = Fastify()
  await app.register(helmetHeaders, autoConfig)
  app.get('/docs', async (_request, reply) => reply.header('content-security-policy', "default-src 'self'").send('page'))
  const res = await app.inject({ url: '/docs' })
  t.equal(res.headers['content-security-policy'], "default-src 'self'")
  t.equal(res.headers['x-frame-options'], 'SAMEORIGIN')
  await app.close()
})
