/**
 * npm run build: compiles the gateway to plain JavaScript in dist/ (or --out-dir), a directory that ships
 * on its own: the files it reads at run time (config/, node-version.js), a package.json with only what
 * production runs (no devDependencies, `npm start` = node server.js) and a lockfile pruned from the
 * project's by npm itself, offline, so `npm ci --omit=dev` there installs exactly the tested versions.
 */
import { execFileSync } from 'node:child_process'
import { copyFileSync, cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'

const ROOT = join(import.meta.dirname, '..')

/** The project's package.json as production sees it (tsc copied the whole one, swagger imports it). */
export function productionManifest (pkg: Record<string, unknown>): Record<string, unknown> {
  const pick = ['name', 'version', 'description', 'private', 'type', 'license', 'engines', 'dependencies', 'optionalDependencies']
  const manifest: Record<string, unknown> = Object.fromEntries(pick.filter(key => pkg[key] !== undefined).map(key => [key, pkg[key]]))
  const start = (pkg.scripts as Record<string, string>).start.replace(/\bserver\.ts\b/, 'server.js')
  return { ...manifest, scripts: { start } }
}

/** Everything but the compiled code: run-time files, the production manifest and its lockfile. */
export function writeShippingFiles (outDir: string): void {
  cpSync(join(ROOT, 'config'), join(outDir, 'config'), { recursive: true })
  for (const file of ['node-version.js', 'LICENSE']) copyFileSync(join(ROOT, file), join(outDir, file))
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Record<string, unknown>
  writeFileSync(join(outDir, 'package.json'), `${JSON.stringify(productionManifest(pkg), null, 2)}\n`)
  copyFileSync(join(ROOT, 'package-lock.json'), join(outDir, 'package-lock.json'))
  try {
    // With the lockfile present and nothing to resolve, npm only drops what the manifest no longer asks for.
    execFileSync('npm', ['install', '--package-lock-only', '--offline', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: outDir, stdio: 'pipe' })
  } catch (err) {
    process.stderr.write((err as { stderr?: Buffer }).stderr ?? '')
    throw new Error('npm could not prune the lockfile for dist/ (see above)')
  }
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { 'out-dir': { type: 'string', default: 'dist' }, 'no-source-maps': { type: 'boolean', default: false } } })
  const outDir = resolve(ROOT, values['out-dir'])
  rmSync(outDir, { recursive: true, force: true })
  const sourceMaps = values['no-source-maps'] ? ['--sourceMap', 'false'] : []
  execFileSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', outDir, ...sourceMaps], { stdio: 'inherit' })
  writeShippingFiles(outDir)
  console.log(`built ${outDir}: cd ${outDir} && npm ci --omit=dev && npm start`)
}
