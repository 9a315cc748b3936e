import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { extract, SERVED_OPERATIONS } from '../../scripts/extract-openai-schemas.ts'
import { ROUTES } from '../../simulator/routes.ts'

const extractPath = fileURLToPath(new URL('../../simulator/openapi-extract.json', import.meta.url))
const sourcePath = fileURLToPath(new URL('../../../shared/openai/openapi.json', import.meta.url))
const committed = JSON.parse(readFileSync(extractPath, 'utf8'))

t.test('the committed extract is self-contained and covers every route', async (t) => {
  const text = JSON.stringify(committed)
  t.notOk(text.includes('"oneOf"'), 'oneOf is rewritten as anyOf')
  t.notOk(/"x-[a-zA-Z]/.test(text), 'no vendor extensions')
  const refs = [...text.matchAll(/"\$ref":"([^"]+)"/g)].map((m) => m[1])
  const dangling = refs.filter((ref) => !ref.startsWith('#/$defs/') || !(ref.slice(8) in committed.$defs))
  t.same(dangling, [], 'every $ref resolves inside the extract')
  t.same(Object.keys(committed.operations).sort(), [...SERVED_OPERATIONS].sort())
  for (const route of ROUTES) {
    if (route.operationId === null) continue
    const op = committed.operations[route.operationId]
    t.equal(`${op.method} ${op.path.replace(/\{[^}]+\}/g, '{}')}`, route.key.replace(/\{[^}]+\}/g, '{}'), `${route.key} is ${route.operationId}`)
  }
})

t.test('the extract is up to date with ../shared/openai/openapi.json', { skip: existsSync(sourcePath) ? false : 'shared/ is not present (a user clone)' }, async (t) => {
  const bytes = readFileSync(sourcePath)
  const fresh = extract(JSON.parse(bytes.toString('utf8')), bytes)
  t.same(fresh, committed, 'regenerate with: node scripts/extract-openai-schemas.ts')
  t.same(extract(JSON.parse(bytes.toString('utf8')), bytes), fresh, 'deterministic')
  // Routes served without validation are the ones the spec lacks; when it gains one, validate it.
  const paths = Object.keys((JSON.parse(bytes.toString('utf8')) as { paths: Record<string, unknown> }).paths).map((p) => p.replace(/\{[^}]+\}/g, '{}'))
  for (const route of ROUTES.filter((r) => r.operationId === null)) {
    t.notOk(paths.includes(route.key.split(' ')[1].slice(3).replace(/\{[^}]+\}/g, '{}')), `${route.key} is still absent from openapi.json`)
  }
})
