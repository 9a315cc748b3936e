import t from 'tap'
import { build } from '../helpers/build.ts'

interface Operation { tags?: string[], operationId?: string, summary?: string, responses?: Record<string, { content?: Record<string, { schema?: unknown }>, description?: string }> }

t.test('every route is documented with tags, operationId, summary and a schema per status', async t => {
  const app = await build(t, null)
  const res = await app.inject({ url: '/docs/json' })
  t.equal(res.statusCode, 200)
  const doc = res.json() as { openapi: string, paths: Record<string, Record<string, Operation>>, components: { securitySchemes: Record<string, unknown> } }
  t.match(doc.openapi, /^3\./)
  t.same(doc.components.securitySchemes.bearerAuth, { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' })

  const operationIds = new Set<string>()
  let operations = 0
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const where = `${method.toUpperCase()} ${path}`
      operations++
      t.ok(op.tags && op.tags.length > 0, `${where} has tags`)
      t.ok(op.summary, `${where} has a summary`)
      t.ok(op.operationId, `${where} has an operationId`)
      t.notOk(operationIds.has(op.operationId!), `${where} operationId is unique`)
      operationIds.add(op.operationId!)
      const statuses = Object.keys(op.responses ?? {})
      // GET /files/:id/content exists to refuse clearly (contract v2): it has no success to document.
      if (op.operationId !== 'getFileContent') t.ok(statuses.some(s => s.startsWith('2')), `${where} documents its success`)
      for (const status of statuses) {
        const content = op.responses![status]!.content
        t.ok(content && Object.values(content).every(c => c.schema), `${where} ${status} has a schema`)
      }
      if (path.startsWith('/api/')) {
        t.ok(statuses.includes('401'), `${where} documents 401`)
        t.ok(statuses.includes('429'), `${where} documents 429`)
      }
    }
  }
  t.ok(operations >= 9, `found ${operations} operations`)
  for (const id of ['createThread', 'listThreads', 'getThread', 'updateThread', 'deleteThread', 'createMessage', 'listMessages', 'healthLive', 'healthReady', 'metrics']) {
    t.ok(operationIds.has(id), `${id} is documented`)
  }
})

t.test('Swagger UI is served at /docs', async t => {
  const app = await build(t, null)
  const res = await app.inject({ url: '/docs/' })
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /text\/html/)
  t.match(res.body, /swagger/i)
})
