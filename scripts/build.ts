/**
 * npm run build: compiles the gateway to plain JavaScript in dist/ (or --out-dir) and copies the files
 * it reads at run time (config/). Node 24 runs the sources directly; this is for platforms that want JS.
 */
import { execFileSync } from 'node:child_process'
import { cpSync, rmSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'

const ROOT = join(import.meta.dirname, '..')
const { values } = parseArgs({ options: { 'out-dir': { type: 'string', default: 'dist' }, 'no-source-maps': { type: 'boolean', default: false } } })
const outDir = resolve(ROOT, values['out-dir'])
rmSync(outDir, { recursive: true, force: true })
const sourceMaps = values['no-source-maps'] ? ['--sourceMap', 'false'] : []
execFileSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', outDir, ...sourceMaps], { stdio: 'inherit' })
cpSync(join(ROOT, 'config'), join(outDir, 'config'), { recursive: true })
console.log(`built ${outDir}: node --optimize-for-size ${join(outDir, 'server.js')}`)
