import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { writeShippingFiles } from '../scripts/build.ts'
import { tempDir } from './helpers/build.ts'

const ROOT = join(import.meta.dirname, '..')
const read = (path: string) => JSON.parse(readFileSync(path, 'utf8'))

interface Lock { packages: Record<string, { version?: string, dev?: boolean, optional?: boolean, devOptional?: boolean, dependencies?: Record<string, string>, devDependencies?: Record<string, string> }> }

t.test('dist/ ships on its own: production manifest, a lockfile of the same versions, the files it reads', async t => {
  const out = tempDir(t)
  writeShippingFiles(out)
  const pkg = read(join(ROOT, 'package.json'))
  const manifest = read(join(out, 'package.json'))
  t.notOk(manifest.devDependencies, 'no devDependencies')
  t.same(manifest.dependencies, pkg.dependencies)
  t.same(manifest.optionalDependencies, pkg.optionalDependencies, 'the Node the install brings, as from a checkout')
  t.same(manifest.engines, pkg.engines)
  t.same(manifest.scripts, { start: 'node --max-semi-space-size=8 --heap-growing-percent=20 server.js' }, 'npm start runs the compiled server, with the flags of the project\'s start')
  t.equal(manifest.type, 'module')

  const lock = read(join(out, 'package-lock.json')) as Lock
  const root = read(join(ROOT, 'package-lock.json')) as Lock
  t.notOk(lock.packages['']!.devDependencies, 'the lockfile\'s root has no devDependencies')
  const shipped = Object.keys(lock.packages).filter(Boolean)
  t.same(shipped.filter(path => root.packages[path]?.dev), [], 'no package only development needs')
  t.same(shipped.filter(path => root.packages[path]?.version !== lock.packages[path]!.version), [], 'every version as the project locked it')
  const production = Object.keys(root.packages).filter(path => path && !root.packages[path]!.dev && !root.packages[path]!.devOptional)
  t.same(production.filter(path => !lock.packages[path]), [], 'every production package')

  for (const file of ['node-version.js', 'LICENSE', 'config/agents.json', 'config/prices.json']) t.ok(existsSync(join(out, file)), file)
  // npm ci refuses a manifest and a lockfile that disagree; --dry-run decides that without installing.
  t.doesNotThrow(() => execFileSync('npm', ['ci', '--omit=dev', '--dry-run', '--offline', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: out, stdio: 'pipe' }))
})
