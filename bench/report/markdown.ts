import { mkdirSync, writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { ROOT } from '../harness/processes.ts'
import { describeCommit } from '../harness/machine.ts'
import type { ProfileSummary } from '../harness/profile.ts'
import type { Scenario, ScenarioResult, Table } from '../scenarios/types.ts'
import type { BenchResults } from './results.ts'

const CHARTS_DIR = join(ROOT, 'bench', 'charts')
const verdict = (met: boolean | null) => met === null ? 'not measured' : met ? '**met**' : '**not met**'
const cell = (v: string | number) => String(v).replace(/\|/g, '\\|').replace(/\n/g, ' ')

const NUMERIC = /^[+-]?(\d[\d.]*|—|–|)( ?(%|ms|MB|kB|s))?$/

/** Numbers right-aligned, text left-aligned, decided per column. */
function table (t: Table): string {
  const numeric = t.columns.map((_, i) => t.rows.length > 0 && t.rows.every(r => typeof r[i] === 'number' || NUMERIC.test(String(r[i] ?? '').trim())))
  const lines = [
    ...(t.caption ? [`*${t.caption}*`, ''] : []),
    `| ${t.columns.map(cell).join(' | ')} |`,
    `|${numeric.map(n => (n ? '---:' : '---')).join('|')}|`,
    ...t.rows.map(r => `| ${r.map(cell).join(' | ')} |`)
  ]
  return lines.join('\n')
}

const pct = (share: number) => `${(share * 100).toFixed(1)} %`

function profileSection (p: ProfileSummary): string {
  const origins = p.byOrigin.filter(o => o.share >= 0.01)
  const lead = origins.slice(0, 4).map(o => `${o.name} ${pct(o.share)}`).join(', ')
  const ours = p.byOrigin.filter(o => o.name.startsWith('gateway: '))
  const fnsOf = new Map((p.byOriginFunctions ?? []).map(o => [o.origin, o.functions]))
  const topIn = (origin: string) => (fnsOf.get(origin) ?? []).map(f => `\`${f.name}\` ${pct(f.share)}`).join(', ')
  return [
    '#### Where the time goes (CPU profile of the gateway)',
    '',
    `Workload: ${p.workload}. The gateway under \`node --cpu-prof\`, ${p.windowed ? 'cut to the workload\'s window' : 'whole process lifetime'}: ` +
    `${p.sampledMs} ms sampled, ${p.busyMs} ms busy, ${p.idleMs} ms idle (waiting on sockets). Shares are of the busy time. ` +
    `The busy time splits as: ${lead}` +
    (ours.length ? `; the gateway's own code (${ours.map(o => o.name.replace('gateway: ', '')).join(', ')}) takes ${pct(ours.reduce((n, o) => n + o.share, 0))} in all.` : '.'),
    '',
    table(p.byOriginFunctions
      ? { caption: 'Self time by origin (package, node core, or a folder of the gateway), with its top functions', columns: ['origin', 'self (ms)', 'share of busy', 'top functions in it (share of busy)'], rows: origins.map(o => [o.name, o.selfMs, pct(o.share), topIn(o.name)]) }
      : { caption: 'Self time by origin', columns: ['origin', 'self (ms)', 'share of busy'], rows: origins.map(o => [o.name, o.selfMs, pct(o.share)]) }),
    '',
    table({ caption: 'Top functions by self time', columns: ['function', 'where', 'self (ms)', 'share of busy'], rows: p.topFunctions.map(f => [`\`${f.name}\``, f.where ? `\`${f.where}\`` : '', f.selfMs, pct(f.share)]) })
  ].join('\n')
}

function scenarioSection (scenario: Scenario, result: ScenarioResult): string {
  const out = [`## ${scenario.title}`, '', scenario.description, '']
  if (result.error || !result.figures) {
    out.push(`**This scenario failed:** \`${result.error ?? 'no figures'}\``, '')
    return out.join('\n')
  }
  const rendered = scenario.render(result.figures)
  const chart = `${scenario.name}.svg`
  mkdirSync(CHARTS_DIR, { recursive: true })
  writeFileSync(join(CHARTS_DIR, chart), rendered.svg)
  for (const t of rendered.tables) out.push(table(t), '')
  out.push(`![${scenario.title}](${relative(ROOT, join(CHARTS_DIR, chart))})`, '')
  for (const note of rendered.notes) out.push(note, '')
  for (const goal of result.goals) out.push(`Goal — ${goal.goal}: ${verdict(goal.met)} (${goal.evidence}).`, '')
  if (result.profile) out.push(profileSection(result.profile), '')
  else if (result.goals.some(g => g.met === false)) {
    out.push(scenario.profile
      ? '**No CPU profile in this results file** for the missed goal (the run was made with `--no-profile`, profiling failed, or the goal was ' +
        `judged met when it ran): \`npm run bench -- ${scenario.name}\` profiles it.`
      : 'This scenario has no profiling pass.', '')
  }
  out.push(`<sub>Scenario wall time: ${Math.round(result.seconds)} s.</sub>`, '')
  return out.join('\n')
}

/** BENCHMARKS.md from a results file; also writes bench/charts/<scenario>.svg. */
/** `regeneratedBy`: the command that rebuilt the report from a saved results file, recorded in the machine table. */
export function renderMarkdown (results: BenchResults, scenarios: Scenario[], regeneratedBy?: string): string {
  const m = results.machine
  const byName = new Map(scenarios.map(s => [s.name, s]))
  const ran = results.scenarios.filter(r => byName.has(r.name))
  const goals = ran.flatMap(r => r.goals.map(g => ({ ...g, scenario: byName.get(r.name)!.title })))
  const out = [
    '# Benchmarks',
    '',
    '<!-- Generated by bench/report/markdown.ts from a bench/results file: do not edit by hand, run `npm run bench`. -->',
    '',
    'What the gateway costs in latency and memory, each figure measured against its floor (the same upstream call made ' +
    'directly, or the cheapest request the same process answers) **in the same run**: the machine is shared and noisy, ' +
    'so ratios and differences carry the meaning, absolute times only give the scale. Everything runs on loopback: ' +
    'the OpenAI simulator, the gateway (as it ships: built by `npm run build`, `node dist/server.js` with the node flags of `npm start`; SQLite store on a temp file, `LOG_LEVEL=warn`, budgets off, ' +
    'rate limits out of the way except where they are measured) and the Portkey gateway each in their own process; ' +
    'autocannon and the scripted clients run in the bench process. All of them share the same cores.',
    '',
    results.complete ? '' : '> **Partial run**: only some scenarios ran for this file.\n',
    '## Machine',
    '',
    table({
      columns: ['', ''],
      rows: [['CPU', m.cpu], ['cores', m.cores], ['memory', `${m.memoryGB} GB`], ['OS', m.os], ['Node.js', m.node],
        ['date', m.date], ['commit', m.commit], ['command', `\`${results.command}\``], ['total wall time', `${Math.round(results.seconds)} s`],
        ...(regeneratedBy ? [['report', `regenerated with \`${regeneratedBy}\`: figures from the run above, verdicts recomputed from them by the bench code at ${describeCommit()}`]] : []),
        ['gateway', `\`node ${m.gatewayNodeFlags ? `${m.gatewayNodeFlags} ` : ''}${m.gatewayEntry ?? 'server.ts'}\` (the node flags of \`npm start\`)`],
        ...(m.gatewayNodeOptions ? [['gateway NODE_OPTIONS (experiment)', `\`${m.gatewayNodeOptions}\``]] : [])]
    }),
    '',
    '## How to reproduce',
    '',
    '```sh',
    'npm ci',
    'npm run bench                           # every scenario (about 10 minutes), then regenerates this file',
    'npm run bench -- overhead chat-turn     # some scenarios: results JSON and a summary, this file untouched',
    'npm run bench -- soak --markdown        # ... and regenerate this file from that partial run',
    'npm run bench -- --report bench/results/<file>.json   # regenerate this file from a saved run',
    'npm run bench -- --no-profile           # skip the CPU profile taken when a goal is missed',
    '```',
    '',
    `Scenarios: ${scenarios.map(s => `\`${s.name}\``).join(', ')}. Raw figures go to \`bench/results/<timestamp>.json\` (git-ignored); ` +
    'charts to `bench/charts/`. RSS is read from `/proc/<pid>/status` (VmRSS sampled, VmHWM reset per phase through ' +
    '`/proc/<pid>/clear_refs` so short peaks count); event-loop delay and handle counts from prom-client\'s default metrics on the ' +
    'gateway\'s `/metrics`. Memory is in MB (10^6 bytes).',
    '',
    '## Goals',
    '',
    table({ columns: ['scenario', 'goal', 'verdict', 'figures'], rows: goals.map(g => [g.scenario, g.goal, verdict(g.met), g.evidence]) }),
    ''
  ]
  for (const result of ran) out.push(scenarioSection(byName.get(result.name)!, result))
  return out.join('\n').replace(/\n{3,}/g, '\n\n')
}

export function writeMarkdown (results: BenchResults, scenarios: Scenario[], regeneratedBy?: string): string {
  const file = join(ROOT, 'BENCHMARKS.md')
  writeFileSync(file, renderMarkdown(results, scenarios, regeneratedBy))
  return file
}
