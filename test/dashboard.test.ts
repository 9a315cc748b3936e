import { readFileSync } from 'node:fs'
import t from 'tap'
import { build, startSim } from './helpers/build.ts'
import { bearer, userToken } from './helpers/tokens.ts'

interface Target { expr: string }
interface Panel { title: string, type: string, targets?: Target[], gridPos: { x: number, y: number, w: number, h: number } }
interface Dashboard { uid: string, panels: Panel[], templating: { list: Array<{ name: string, type: string, query?: { query: string } | string }> } }

const dashboard = JSON.parse(readFileSync(new URL('../deploy/grafana/assistant-gateway.json', import.meta.url), 'utf8')) as Dashboard

/** Every PromQL expression of the dashboard, with where it is. */
const queries = [
  ...dashboard.panels.flatMap(p => (p.targets ?? []).map(target => ({ where: `panel "${p.title}"`, expr: target.expr }))),
  ...dashboard.templating.list.flatMap(v => typeof v.query === 'object' ? [{ where: `variable $${v.name}`, expr: v.query.query }] : [])
]

/** The functions and aggregations the queries may use: a typo here would be a panel that errors. */
const FUNCTIONS = new Set(['sum', 'max', 'min', 'avg', 'rate', 'increase', 'histogram_quantile', 'label_values', 'by'])

t.test('the dashboard is a Grafana dashboard: uid, panels on the grid, one query each at least, a data source variable', async t => {
  t.equal(dashboard.uid, 'assistant-gateway')
  t.ok(dashboard.templating.list.some(v => v.type === 'datasource' && v.name === 'datasource'), 'the Prometheus data source is chosen at import')
  const graphs = dashboard.panels.filter(p => p.type !== 'row')
  t.ok(graphs.length >= 15)
  for (const panel of graphs) {
    t.ok(panel.targets && panel.targets.length > 0, `"${panel.title}" has a query`)
    t.ok(panel.gridPos.x + panel.gridPos.w <= 24, `"${panel.title}" fits the grid`)
  }
  for (const { where, expr } of queries) {
    const opened = [...expr].reduce((depth, c) => depth + ('({['.includes(c) ? 1 : ')}]'.includes(c) ? -1 : 0), 0)
    t.equal(opened, 0, `${where}: brackets balance`)
    for (const [, name] of expr.matchAll(/([a-z_]+)\s*\(/g)) t.ok(FUNCTIONS.has(name!), `${where}: ${name}() is a PromQL function the dashboard means to use`)
  }
  // What the issue asks the dashboard to show.
  for (const wanted of [/Requests by route/, /Errors by route/, /Chat-turn latency/, /Time to first token/, /Runs in flight/, /Tokens per day/, /Spend per day/, /Budget refusals/, /Upstream errors/, /Event-loop delay/]) {
    t.ok(graphs.some(p => wanted.test(p.title)), `a panel: ${wanted.source}`)
  }
})

t.test('every metric the dashboard\'s queries name is in a scrape of /metrics, with samples once the gateway has been used', async t => {
  const sim = await startSim(t)
  // A daily budget that one small turn fits and a second, at the assistant's full cap, does not.
  const app = await build(t, sim, { env: { BUDGET_USER_DAILY_TOKENS: '2000' } })
  const alice = bearer(userToken('alice'))
  const thread = (await app.inject({ method: 'POST', url: '/api/openai/threads', headers: alice, payload: { messages: [{ role: 'user', content: 'Time? [call:get_current_time {"timezone":"UTC"}]' }] } })).json()
  const streamed = await app.inject({ method: 'POST', url: `/api/openai/threads/${thread.id}/runs`, headers: alice, payload: { assistant_type: 'curator', stream: true, max_output_tokens: 100 } })
  t.equal(streamed.statusCode, 200)
  t.match(streamed.body, /thread\.run\.completed/, 'a streamed turn with a tool round')
  const refused = await app.inject({ method: 'POST', url: `/api/openai/threads/${thread.id}/runs`, headers: alice, payload: { assistant_type: 'curator' } })
  t.equal(refused.statusCode, 429)
  t.equal(refused.json().code, 'BUDGET_EXCEEDED', 'and one the budget refuses')

  const scrape = (await app.inject({ url: '/metrics' })).body
  const families = new Map([...scrape.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map(m => [m[1]!, m[2]!]))
  const sampled = new Set([...scrape.matchAll(/^([a-z_][a-z0-9_]*)(?:\{[^}]*\})? \S+$/gm)].map(m => m[1]!))
  /** The family a series name belongs to: a histogram's _bucket, _sum and _count are its own. */
  const familyOf = (name: string) => families.has(name) ? name : [name.replace(/_(bucket|sum|count)$/, '')].find(base => families.get(base) === 'histogram')
  const named = new Set(queries.flatMap(q => [...q.expr.matchAll(/\bassistant_gateway_[a-z0-9_]+/g)].map(m => ({ ...q, name: m[0] }))).map(q => JSON.stringify(q)))
  t.ok(named.size >= 15)
  for (const { where, name } of [...named].map(s => JSON.parse(s) as { where: string, name: string })) {
    const family = familyOf(name)
    t.ok(family, `${where}: ${name} is exported`)
    t.ok(sampled.has(name), `${where}: ${name} has samples`)
  }
  t.same(sim.nonconforming(), [])
})
