// `npm run bench [-- <scenario>...] [--no-profile] [--markdown] [--report <results.json>] [--soak-seconds N]`
// Runs the scenarios one after the other (each starts and stops its own processes), writes
// bench/results/<timestamp>.json and, after a full run, BENCHMARKS.md with its charts.
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { describeMachine } from './harness/machine.ts'
import { gatewayEntry, ROOT } from './harness/processes.ts'
import { writeMarkdown } from './report/markdown.ts'
import { readResults, writeResults, type BenchResults } from './report/results.ts'
import { SCENARIOS } from './scenarios/index.ts'
import type { ScenarioResult } from './scenarios/types.ts'

const [major] = process.versions.node.split('.').map(Number)
if (major < 24) {
  process.stderr.write(`The benchmarks need Node 24 (this is ${process.version}): run them with \`npm run bench\`, which uses the pinned one.\n`)
  process.exit(2)
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    'no-profile': { type: 'boolean', default: false },
    markdown: { type: 'boolean', default: false },
    'soak-seconds': { type: 'string' },
    report: { type: 'string' },
    help: { type: 'boolean', default: false }
  }
})

const names = SCENARIOS.map(s => s.name)
if (values.help) {
  process.stdout.write('Usage: npm run bench [-- <scenario>...] [--no-profile] [--markdown] [--report <results.json>] [--soak-seconds N]\n' +
    `Scenarios: ${names.join(', ')}\nBENCH_GATEWAY_NODE_OPTIONS=... passes NODE_OPTIONS to the gateway processes (experiments with V8 flags).\n`)
  process.exit(0)
}

if (values.report) {
  const results = readResults(values.report)
  // Verdicts are recomputed from the stored figures, so a change to a goal's rule shows in a regenerated report.
  for (const result of results.scenarios) {
    const scenario = SCENARIOS.find(s => s.name === result.name)
    if (scenario && result.figures) result.goals = scenario.goals(result.figures)
  }
  const file = writeMarkdown(results, SCENARIOS, `npm run bench -- --report ${values.report}`)
  process.stdout.write(`wrote ${file}\n`)
  process.exit(0)
}

const unknown = positionals.filter(p => !names.includes(p))
if (unknown.length > 0) {
  process.stderr.write(`Unknown scenario(s): ${unknown.join(', ')}. Known: ${names.join(', ')}\n`)
  process.exit(2)
}
const selected = positionals.length > 0 ? SCENARIOS.filter(s => positionals.includes(s.name)) : SCENARIOS
const t0 = performance.now()
const elapsed = () => `${Math.round((performance.now() - t0) / 1000)} s`.padStart(6)

process.once('SIGINT', () => {
  process.stderr.write('\ninterrupted: stopping the processes\n')
  process.exit(130)
})

// The gateway runs as it ships (dist/, bench/harness/processes.ts): build it from this checkout first.
if (gatewayEntry().startsWith('dist/')) {
  process.stdout.write('building dist/ (npm run build) …\n')
  execFileSync(process.execPath, [join(ROOT, 'scripts', 'build.ts')], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] })
}

const machine = describeMachine()
process.stdout.write(`assistant-gateway benchmarks on ${machine.cpu} × ${machine.cores}, ${machine.node}\n`)
process.stdout.write(`scenarios: ${selected.map(s => s.name).join(', ')} (about ${Math.round(selected.reduce((n, s) => n + s.expectedSeconds, 0) / 60)} min)\n\n`)

const results: ScenarioResult[] = []
for (const scenario of selected) {
  const ctx = {
    log: (message: string) => process.stdout.write(`${elapsed()}  [${scenario.name}] ${message}\n`),
    profile: !values['no-profile'],
    ...(values['soak-seconds'] ? { soakSeconds: Number(values['soak-seconds']) } : {})
  }
  const started = performance.now()
  const result: ScenarioResult = {
    name: scenario.name, title: scenario.title, startedAt: new Date().toISOString(), seconds: 0, figures: null, error: null, goals: [], profile: null
  }
  ctx.log(`start — ${scenario.title}`)
  try {
    result.figures = await scenario.run(ctx)
    result.goals = scenario.goals(result.figures)
    if (ctx.profile && scenario.profile && result.goals.some(g => g.met === false)) {
      ctx.log('a goal is missed: profiling the gateway')
      try {
        result.profile = await scenario.profile(ctx, result.figures)
      } catch (err) {
        ctx.log(`profiling failed: ${(err as Error).message}`)
      }
    }
  } catch (err) {
    result.error = (err as Error).stack ?? String(err)
    ctx.log(`FAILED: ${(err as Error).message}`)
  }
  result.seconds = (performance.now() - started) / 1000
  for (const goal of result.goals) ctx.log(`goal ${goal.met === null ? 'not measured' : goal.met ? 'met' : 'NOT met'}: ${goal.goal} — ${goal.evidence}`)
  results.push(result)
}

const complete = selected.length === SCENARIOS.length
const bench: BenchResults = {
  machine,
  command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
  complete,
  seconds: (performance.now() - t0) / 1000,
  scenarios: results
}
process.stdout.write(`\nresults: ${writeResults(bench)}\n`)
if (complete || values.markdown) process.stdout.write(`report:  ${writeMarkdown(bench, SCENARIOS)}\n`)
else process.stdout.write('BENCHMARKS.md left as it is (partial run; add --markdown to regenerate it from this run)\n')
process.stdout.write(`total:  ${elapsed().trim()}\n`)
process.exitCode = results.some(r => r.error) ? 1 : 0
