/**
 * Coverage gate for the gateway's own logic (services/ and plugins/), run by `npm test` after tap.
 * Reads the summary tap writes (`tap report json-summary`); thresholds in percent.
 */
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join, relative } from 'node:path'

const ROOT = join(import.meta.dirname, '..')
const THRESHOLDS = { lines: 90, branches: 80 }
const GATED = /^(services|plugins)\//

execFileSync(process.execPath, [join(ROOT, 'node_modules', '.bin', 'tap'), 'report', 'json-summary'], { cwd: ROOT, stdio: 'ignore' })
interface Counter { total: number, covered: number }
const summary = JSON.parse(readFileSync(join(ROOT, '.tap', 'report', 'coverage-summary.json'), 'utf8')) as Record<string, { lines: Counter, branches: Counter }>

const sums = { lines: { total: 0, covered: 0 }, branches: { total: 0, covered: 0 } }
for (const [file, entry] of Object.entries(summary)) {
  if (file === 'total' || !GATED.test(relative(ROOT, file))) continue
  for (const kind of ['lines', 'branches'] as const) {
    sums[kind].total += entry[kind].total
    sums[kind].covered += entry[kind].covered
  }
}
let failed = false
for (const kind of ['lines', 'branches'] as const) {
  const pct = sums[kind].total === 0 ? 100 : 100 * sums[kind].covered / sums[kind].total
  const ok = pct >= THRESHOLDS[kind]
  failed ||= !ok
  console.log(`coverage of services/ and plugins/: ${kind} ${pct.toFixed(1)}% (${ok ? 'ok' : 'below'} the ${THRESHOLDS[kind]}% gate)`)
}
if (failed) process.exit(1)
