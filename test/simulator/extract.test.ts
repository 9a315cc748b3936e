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
    const op = committed.operations[route.operationId]
    t.equal(`${op.method} ${op.path.replace(/\{[^}]+\}/g, '{}')}`, route.key.replace(/\{[^}]+\}/g, '{}'), `${route.key} is ${route.operationId}`)
  }
})

t.test('the extract is up to date with ../shared/openai/openapi.json', { skip: existsSync(sourcePath) ? false : 'shared/ is not present (a user clone)' }, async (t) => {
  const bytes = readFileSync(sourcePath)
  const fresh = extract(JSON.parse(bytes.toString('utf8')), bytes)
  t.same(fresh, committed, 'regenerate with: node scripts/extract-openai-schemas.ts')
  t.same(extract(JSON.parse(bytes.toString('utf8')), bytes), fresh, 'deterministic')
})
