import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { nodeVersionProblem, satisfies } from '../node-version.js'

const ROOT = join(import.meta.dirname, '..')
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string, engines: { node: string } }

t.test('satisfies reads the >= and ^ alternatives engines uses', async t => {
  const range = '^22.18.0 || >=24.2.0'
  for (const version of ['22.18.0', '22.23.3', 'v24.2.0', '24.21.0', '26.0.0']) t.ok(satisfies(version, range), `${version} is admitted`)
  for (const version of ['20.20.2', '22.12.0', '22.17.1', '23.11.0', '24.1.0']) t.notOk(satisfies(version, range), `${version} is refused`)
  t.throws(() => satisfies('24.0.0', '~24.0.0'), /understands only/, 'a range it cannot read is an error, not a pass')
})

t.test('the project\'s own engines is one it can read, and admits the Node running the tests', async t => {
  t.equal(nodeVersionProblem(process.versions.node, pkg), undefined)
  t.doesNotThrow(() => satisfies('22.18.0', pkg.engines.node))
})

t.test('an older Node gets one line naming the range, the version and what to do', async t => {
  const problem = nodeVersionProblem('20.20.2', pkg)!
  t.match(problem, `${pkg.name} needs Node.js ${pkg.engines.node}, not 20.20.2`)
  t.match(problem, /npm start/)
  t.notMatch(problem, /\n/)
})

t.test('run as npm start\'s prestart, on a Node in range it says nothing and exits 0', async t => {
  const result = spawnSync(process.execPath, [join(ROOT, 'node-version.js')], { encoding: 'utf8' })
  t.equal(result.status, 0)
  t.equal(`${result.stdout}${result.stderr}`, '')
  t.equal((JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts.prestart, 'node node-version.js')
})

t.test('server.ts imports the check before anything else, so dist/server.js refuses too', async t => {
  const firstImport = /^import .*$/m.exec(readFileSync(join(ROOT, 'server.ts'), 'utf8'))?.[0]
  t.equal(firstImport, "import './node-version.js'")
})

t.test('the optional Node the install brings is in range, one version for every platform', async t => {
  const optional = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { optionalDependencies: Record<string, string> }).optionalDependencies
  const versions = new Set(Object.entries(optional).filter(([name]) => /^node-(linux|darwin|win)-/.test(name)).map(([, v]) => v))
  t.equal(versions.size, 1, 'one pinned version')
  const [version] = [...versions]
  t.ok(satisfies(version!, pkg.engines.node), `${version} is in engines`)
  t.match(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'), `ARG NODE_VERSION=${version}`, 'the image uses the same release')
})
