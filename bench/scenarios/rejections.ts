import { mintToken } from '../../scripts/dev-tokens.ts'
import { counterDelta, totalOf, userOf } from '../harness/http.ts'
import { runLoad } from '../harness/load.ts'
import { startGateway, startSimulator, stopAll, type GatewayService, type SimulatorService } from '../harness/processes.ts'
import { round } from '../harness/stats.ts'
import { barChart } from '../report/svg.ts'
import { defineScenario, type ScenarioContext } from './types.ts'

const CONCURRENCY = 50
const SECONDS = 4
const LIMITED_MAX = 20
/** Older results files called it a "proxied read"; with the message cache on its repeats make no upstream call. */
const PROXIED_LABEL = 'valid token: GET …/messages (repeated read, message cache on)'

type Case = 'health' | 'proxied' | 'badSignature' | 'malformed' | 'missing' | 'healthLimited' | 'overLimit'
interface CaseFigures {
  label: string
  gateway: 'open' | 'limited'
  expect: number
  rps: number
  share: number
  statusCounts: Record<string, number>
  /** Upstream calls the gateway made per response during the measurement (older results files lack it). */
  upstreamCallsPerRequest?: number
}
export interface RejectionsFigures { concurrency: number, seconds: number, limitedMax: number, cases: Record<Case, CaseFigures> }

interface Spec { key: Case, label: string, expect: number, url: string, headers: Record<string, string> }

async function measureGateway (ctx: ScenarioContext, sim: SimulatorService, specs: Spec[], floor: Case, gatewayName: 'open' | 'limited'): Promise<Array<[Case, CaseFigures]>> {
  const out: Array<[Case, CaseFigures]> = []
  for (const spec of specs) {
    await runLoad({ url: spec.url, headers: spec.headers, connections: 10, duration: 1 })
    ctx.log(`${spec.label}: c=${CONCURRENCY} for ${SECONDS} s`)
    const before = (await sim.stats()).counters
    const r = await runLoad({ url: spec.url, headers: spec.headers, connections: CONCURRENCY, duration: SECONDS })
    const upstream = totalOf(counterDelta(before, (await sim.stats()).counters))
    out.push([spec.key, {
      label: spec.label,
      gateway: gatewayName,
      expect: spec.expect,
      rps: r.rps,
      share: 0,
      statusCounts: r.statusCounts,
      upstreamCallsPerRequest: round(upstream / Math.max(1, r.responses), 3)
    }])
  }
  const floorRps = out.find(([k]) => k === floor)![1].rps
  for (const [, c] of out) c.share = round(c.rps / floorRps, 3)
  return out
}

async function measure (ctx: ScenarioContext): Promise<RejectionsFigures> {
  let sim: SimulatorService | undefined
  let open: GatewayService | undefined
  let limited: GatewayService | undefined
  try {
    sim = await startSimulator()
    open = await startGateway(sim)
    const user = userOf(open, 'bench-rejections')
    const threadId = await user.thread('Hello')
    const path = `/api/openai/threads/${threadId}/messages`
    const forged = mintToken('not-the-gateway-secret-0123456789-abcdefghij', { sub: 'bench-rejections' })
    const openCases = await measureGateway(ctx, sim, [
      { key: 'health', label: 'GET /health/live (floor: no auth, no upstream)', expect: 200, url: `${open.url}/health/live`, headers: {} },
      { key: 'proxied', label: PROXIED_LABEL, expect: 200, url: `${open.url}${path}`, headers: user.headers },
      { key: 'badSignature', label: 'token with a bad signature → 401', expect: 401, url: `${open.url}${path}`, headers: { authorization: `Bearer ${forged}` } },
      { key: 'malformed', label: 'malformed token → 401', expect: 401, url: `${open.url}${path}`, headers: { authorization: 'Bearer not-a-jwt' } },
      { key: 'missing', label: 'no token → 401', expect: 401, url: `${open.url}${path}`, headers: {} }
    ], 'health', 'open')
    await open.stop()
    open = undefined

    // One user over a small limit: every request after the first LIMITED_MAX of the window is a 429.
    limited = await startGateway(sim, { env: { RATE_LIMIT_MAX: String(LIMITED_MAX), RATE_LIMIT_WINDOW_MS: '600000' } })
    const over = userOf(limited, 'bench-over-limit')
    const overThread = await over.thread('Hello')
    const limitedCases = await measureGateway(ctx, sim, [
      { key: 'healthLimited', label: 'GET /health/live (floor)', expect: 200, url: `${limited.url}/health/live`, headers: {} },
      { key: 'overLimit', label: `over the rate limit (${LIMITED_MAX} per 10 min) → 429`, expect: 429, url: `${limited.url}/api/openai/threads/${overThread}/messages`, headers: over.headers }
    ], 'healthLimited', 'limited')
    return { concurrency: CONCURRENCY, seconds: SECONDS, limitedMax: LIMITED_MAX, cases: Object.fromEntries([...openCases, ...limitedCases]) as Record<Case, CaseFigures> }
  } finally {
    await stopAll([sim, open, limited])
  }
}

const ORDER: Case[] = ['health', 'proxied', 'badSignature', 'malformed', 'missing', 'healthLimited', 'overLimit']
const REJECTIONS: Case[] = ['badSignature', 'malformed', 'missing', 'overLimit']
const SHORT: Partial<Record<Case, string>> = { badSignature: 'bad signature', malformed: 'malformed token', missing: 'no token', overLimit: 'over the rate limit' }

/** req/s of a refusal against a reference, in words: "1.65× the req/s (cheaper)". */
function against (rps: number, reference: number): string {
  const ratio = rps / reference
  const word = ratio > 1.1 ? 'cheaper' : ratio < 0.9 ? 'costlier' : 'about the same cost'
  return `${ratio.toFixed(2)}× (${word})`
}

/** How many refusals are cheaper, about the same, costlier than a reference (±10 % counts as the same). */
function tally (ratios: number[]): string {
  const n = ratios.length
  const parts = [
    [ratios.filter(r => r > 1.1).length, 'cheaper'],
    [ratios.filter(r => r >= 0.9 && r <= 1.1).length, 'about the same cost'],
    [ratios.filter(r => r < 0.9).length, 'costlier']
  ] as const
  return parts.filter(([k]) => k > 0).map(([k, word]) => `${k === n ? 'all' : `${k} of ${n}`} ${word}`).join(', ')
}

/**
 * The note states what the figures show, whichever way they fall: each refusal's req/s against the
 * valid read on the same gateway and against the same process's /health/live.
 */
function comparisonNote (f: RejectionsFigures): string {
  const c = f.cases
  const proxiedUpstream = c.proxied.upstreamCallsPerRequest
  const proxied = `the valid messages read (${Math.round(c.proxied.rps)} req/s` +
    (proxiedUpstream === undefined ? ')' : `, ${proxiedUpstream} upstream calls per request${proxiedUpstream < 0.1 ? ': answered from the message cache' : ''})`)
  const vsProxied = REJECTIONS.map(k => `${SHORT[k]} ${against(c[k].rps, c.proxied.rps)}`).join(', ')
  const floorOf = (k: Case) => (c[k].gateway === 'open' ? c.health : c.healthLimited)
  const vsFloor = REJECTIONS.map(k => `${SHORT[k]} ${against(c[k].rps, floorOf(k).rps)}`).join(', ')
  const summary = `Against /health/live: ${tally(REJECTIONS.map(k => c[k].rps / floorOf(k).rps))}. ` +
    `Against the valid read: ${tally(REJECTIONS.map(k => c[k].rps / c.proxied.rps))}.`
  return `No goal is set for this scenario. Refusals' req/s at c=${f.concurrency} as a multiple of ${proxied}: ${vsProxied}. ` +
    `As a multiple of the same process's \`GET /health/live\` (no auth, no store, no upstream): ${vsFloor}. ${summary} ` +
    `The over-limit case runs on the second gateway process (\`RATE_LIMIT_MAX=${f.limitedMax}\`), so its comparison with the valid read crosses processes` +
    (c.overLimit.upstreamCallsPerRequest === undefined ? '.' : `; it made ${c.overLimit.upstreamCallsPerRequest} upstream calls per request.`)
}

export default defineScenario<RejectionsFigures>({
  name: 'rejections',
  title: '5. Rejections',
  description: `Requests the gateway refuses, at concurrency ${CONCURRENCY} for ${SECONDS} s each: invalid tokens (a bad signature, not a JWT, none) ` +
    'on `GET /api/openai/threads/:id/messages` → 401, and one user over the rate limit (a second gateway process with ' +
    `\`RATE_LIMIT_MAX=${LIMITED_MAX}\`) → 429. The floor is the cheapest request the same process answers, \`GET /health/live\` ` +
    '(no auth, no store, no upstream); the messages read with a valid token on the same gateway is shown for scale (with the message ' +
    'cache on, as shipped, its repeats are answered without an upstream call). Invalid tokens are counted against the ' +
    'per-IP limit before they are refused, as in production.',
  expectedSeconds: 50,
  run: measure,

  goals () {
    return []
  },

  render (f) {
    const rows = ORDER.map(k => {
      const c = f.cases[k]
      const expected = c.statusCounts[c.expect] ?? 0
      const total = Object.values(c.statusCounts).reduce((a, b) => a + b, 0)
      return [k === 'proxied' ? PROXIED_LABEL : c.label, c.gateway === 'open' ? 'default limits' : `RATE_LIMIT_MAX=${f.limitedMax}`, c.rps, c.share.toFixed(2), `${(100 * expected / Math.max(1, total)).toFixed(1)} % ${c.expect}`]
    })
    return {
      tables: [{ columns: ['request', 'gateway', `req/s at c=${f.concurrency}`, 'share of /health/live', 'answered as expected'], rows }],
      svg: barChart({
        title: 'Rejections: requests per second, as a share of the same process\'s /health/live',
        subtitle: `c=${f.concurrency}, ${f.seconds} s each; labels: req/s`,
        unit: 'share of /health/live req/s',
        series: ['floor', 'rejected', 'served'],
        groups: ORDER.map(k => ({
          label: (k === 'proxied' ? PROXIED_LABEL : f.cases[k].label).replace(/ \(.*\)$/, '').replace(/ → \d+$/, ''),
          bars: [{
            series: k === 'health' || k === 'healthLimited' ? 'floor' : REJECTIONS.includes(k) ? 'rejected' : 'served',
            value: f.cases[k].share,
            label: `${f.cases[k].share.toFixed(2)} · ${Math.round(f.cases[k].rps)} req/s`
          }]
        }))
      }),
      notes: [comparisonNote(f)]
    }
  }
})
