import { mintToken } from '../../scripts/dev-tokens.ts'
import { loadAgentsFile } from '../../services/assistants/agents-file.ts'
import { estimateCost, loadPrices } from '../../services/budget-service.ts'
import { requestJson, userOf, type BenchUser } from '../harness/http.ts'
import { startGateway, startSimulator, stopAll, type GatewayService, type SimulatorService } from '../harness/processes.ts'
import { lineChart } from '../report/svg.ts'
import { defineScenario } from './types.ts'

const TURNS = 100
/** A student's question (~60 tokens) and a tutor's answer of 150 words (~250 tokens): a thread grows ~310 tokens a turn. */
const QUESTION = (n: number) => `Turn ${n}: could you explain the next step of the proof again, a little more slowly, with an example? [len:150]`
const POLICY = { truncation: 'auto', compact_threshold: 6000 } as const
const MAX_OUTPUT = 600
/** Turns shown in the table (every turn is in the chart). */
const SAMPLED = [1, 10, 25, 50, 75, 100]

const mentor = loadAgentsFile().agents.find(a => a.id === 'mentor')!
const prices = loadPrices()

interface Turn { input: number, output: number, reserved: number }
type Series = 'plain' | 'bounded'
export interface ContextCostFigures {
  turns: number
  model: string
  policy: typeof POLICY
  series: Record<Series, Turn[]>
  compactions: number
  nonconforming: number
}

const LABELS: Record<Series, string> = {
  plain: 'no context policy (today\'s default)',
  bounded: `truncation auto + compaction at ${POLICY.compact_threshold.toLocaleString('en')} tokens`
}

/** One thread of TURNS turns on `assistant`: per turn the input the response read, its output, and what the gateway reserved for it. */
async function thread (user: BenchUser, gateway: GatewayService, assistant: string): Promise<Turn[]> {
  const id = (await user.post<{ id: string }>('/threads', {})).body.id
  const turns: Turn[] = []
  for (let n = 1; n <= TURNS; n++) {
    await user.post(`/threads/${id}/messages`, { content: QUESTION(n) })
    const started = await user.post<{ id: string }>(`/threads/${id}/runs`, { assistant_id: assistant, wait: false })
    // Read while the run is in flight: its reservation is what the budget assumed this turn would cost.
    const reserved = (await user.get<{ reserved: { tokens: number } }>('/usage')).body.reserved.tokens
    const run = await requestJson<{ status: string, usage: { prompt_tokens: number, completion_tokens: number } }>(
      `${gateway.url}/api/openai/threads/${id}/runs/${started.body.id}?wait=30000`, { headers: user.headers })
    if (run.body.status !== 'completed') throw new Error(`${assistant}, turn ${n}: the run ended ${run.body.status}`)
    turns.push({ input: run.body.usage.prompt_tokens, output: run.body.usage.completion_tokens, reserved })
  }
  return turns
}

async function measure (ctx: { log: (m: string) => void }): Promise<ContextCostFigures> {
  let sim: SimulatorService | undefined
  let gateway: GatewayService | undefined
  try {
    // Long enough a generation that the reservation can be read while it is held.
    sim = await startSimulator({ generationMs: 60, queueMs: 0 })
    gateway = await startGateway(sim)
    const admin = { authorization: `Bearer ${mintToken(gateway.jwtSecret, { sub: 'bench-admin', admin: true })}` }
    const { id: _id, created_at: _c, aliases: _a, ...profile } = mentor
    for (const [id, policy] of [['plain', undefined], ['bounded', POLICY]] as const) {
      const res = await requestJson(`${gateway.url}/api/openai/assistants/${id}`, {
        method: 'PUT', headers: admin, body: { ...profile, max_output_tokens: MAX_OUTPUT, ...(policy ? { context_policy: policy } : {}) }
      })
      if (res.status !== 200) throw new Error(`PUT /assistants/${id} answered ${res.status}`)
    }
    const series = {} as Record<Series, Turn[]>
    for (const name of ['plain', 'bounded'] as const) {
      ctx.log(`${TURNS} turns on one thread: ${LABELS[name]}`)
      series[name] = await thread(userOf(gateway, `bench-context-${name}`), gateway, name)
    }
    // The input drops once per compaction: the turn reads the compaction item instead of what it replaced.
    const compactions = series.bounded.filter((turn, i) => i > 0 && turn.input < series.bounded[i - 1]!.input).length
    return { turns: TURNS, model: mentor.model, policy: POLICY, series, compactions, nonconforming: (await sim.stats()).nonconforming.count }
  } finally {
    await stopAll([sim, gateway])
  }
}

const sum = (turns: Turn[], pick: (t: Turn) => number) => turns.reduce((n, t) => n + pick(t), 0)
const costOf = (f: ContextCostFigures, turns: Turn[]) =>
  estimateCost(prices, f.model, { input_tokens: sum(turns, t => t.input), cached_tokens: 0, cache_write_tokens: 0, output_tokens: sum(turns, t => t.output), reasoning_tokens: 0, total_tokens: 0 })

export default defineScenario<ContextCostFigures>({
  name: 'context-cost',
  title: '8. Context cost of a long thread',
  description: `One student, one thread, ${TURNS} chat turns (a short question, a 150-word answer), run twice on the same assistant ` +
    `(the mentor, ${mentor.model}): once without a context policy — every turn re-reads the whole thread — and once with ` +
    `\`context_policy: ${JSON.stringify(POLICY)}\`, which the gateway sends as \`truncation: "auto"\` and ` +
    '`context_management: [{ type: "compaction", compact_threshold }]`. Input tokens per turn are the simulator\'s usage (it counts ' +
    'characters / 4 and models compaction: past the threshold, the items before the current turn become one 200-token compaction item); ' +
    'the reservation is what the gateway held against the budget while the turn ran.',
  expectedSeconds: 90,
  run: measure,

  goals (f) {
    const bounded = f.series.bounded
    const peak = Math.max(...bounded.map(t => t.input))
    const plainLast = f.series.plain.at(-1)!.input
    const under = [...f.series.plain, ...bounded].filter(t => t.reserved < t.input + t.output).length
    return [{
      goal: `With the policy, no turn reads much more than the threshold (≤ ${f.policy.compact_threshold} + 25 %), however long the thread`,
      met: peak <= f.policy.compact_threshold * 1.25 && f.compactions > 0,
      evidence: `peak ${peak} tokens with the policy (${f.compactions} compactions) against ${plainLast} at turn ${f.turns} without`
    }, {
      goal: 'The budget follows the policy and never reserves less than a turn used',
      met: under === 0 && bounded.at(-1)!.reserved < f.series.plain.at(-1)!.reserved,
      evidence: `turn ${f.turns} reserved ${bounded.at(-1)!.reserved} tokens with the policy, ${f.series.plain.at(-1)!.reserved} without; ${under} turns reserved less than they used`
    }]
  },

  render (f) {
    const rows: Array<Array<string | number>> = SAMPLED.filter(n => n <= f.turns).map(n => {
      const [p, b] = [f.series.plain[n - 1]!, f.series.bounded[n - 1]!]
      return [n, p.input, b.input, p.reserved, b.reserved]
    })
    const totals = (s: Series) => sum(f.series[s], t => t.input)
    rows.push([`all ${f.turns} (sum of input)`, totals('plain'), totals('bounded'), '', ''])
    const plainCost = costOf(f, f.series.plain)
    const boundedCost = costOf(f, f.series.bounded)
    const points = (s: Series, pick: (t: Turn) => number) => f.series[s].map((t, i) => [i + 1, pick(t)] as [number, number])
    return {
      tables: [{
        caption: 'Input tokens a turn reads, and the tokens reserved for it',
        columns: ['turn', `input: ${LABELS.plain}`, `input: ${LABELS.bounded}`, 'reserved: no policy', 'reserved: policy'],
        rows
      }],
      svg: lineChart({
        title: `Input tokens per turn over a ${f.turns}-turn thread`,
        subtitle: `${f.model}; policy: truncation auto, compaction at ${f.policy.compact_threshold} tokens (${f.compactions} compactions); the simulator's counts`,
        xLabel: 'turn',
        panels: [
          { label: 'Input per turn', unit: 'tokens', series: [{ name: LABELS.plain, points: points('plain', t => t.input) }, { name: LABELS.bounded, points: points('bounded', t => t.input) }] },
          { label: 'Reserved against the budget per turn', unit: 'tokens', series: [{ name: LABELS.plain, points: points('plain', t => t.reserved) }, { name: LABELS.bounded, points: points('bounded', t => t.reserved) }] }
        ]
      }),
      notes: [
        `Over ${f.turns} turns the thread without a policy read ${totals('plain').toLocaleString('en')} input tokens ` +
        `(estimated $${plainCost.toFixed(4)} at the bundled ${f.model} prices, output included), with the policy ` +
        `${totals('bounded').toLocaleString('en')} ($${boundedCost.toFixed(4)}): ${Math.round((1 - totals('bounded') / totals('plain')) * 100)} % less input. ` +
        'Without a policy the cost of turn n grows with n, so a thread\'s total grows with the square of its length; with compaction ' +
        'it grows linearly. The messages stay in the thread either way (GET …/messages lists them all): compaction changes what the ' +
        'model reads, not what the user sees. The simulator\'s 200-token compaction item is a guess; OpenAI\'s is opaque, and the ' +
        'gateway\'s reservation allows 1,000 tokens for it.',
        `Requests the gateway sent that failed the simulator's OpenAPI validation: ${f.nonconforming}.`
      ]
    }
  }
})
