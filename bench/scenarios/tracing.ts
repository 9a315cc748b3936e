import { cpuDelta, cpuTimeOf } from '../harness/cpu.ts'
import { pool, userOf, type BenchUser } from '../harness/http.ts'
import { runLoad } from '../harness/load.ts'
import { startOtlpSink, type OtlpSink } from '../harness/otlp-sink.ts'
import { startGateway, startSimulator, stopAll, type GatewayService, type SimulatorService } from '../harness/processes.ts'
import { monotonicUs, summarizeProfile } from '../harness/profile.ts'
import { median, percentile, round } from '../harness/stats.ts'
import { barChart } from '../report/svg.ts'
import { defineScenario, type ScenarioContext } from './types.ts'

/** Even, so that each order of the variants is run as often as the other. */
const ROUNDS = 4
const SECONDS = 3
const WARMUP_SECONDS = 2
const PROFILE_SECONDS = 8
const CONCURRENCY = 50
const TURNS_PER_ROUND = 24
const TURN_CONCURRENCY = 4
/** A turn with a tool round: two upstream responses and a tool call, so every kind of span is made. */
const TURN_PROMPT = 'What time is it? [call:get_current_time {"timezone":"UTC"}]'
/** Added CPU per request/turn that still counts as small: a tenth of what the request costs without tracing. */
const CPU_SHARE_GOAL = 0.1
/** The batch delay of the gateway with tracing on (OTEL_BSP_SCHEDULE_DELAY), and how long the sink must be quiet for a phase to count as exported. */
const BATCH_DELAY_MS = 200
const DRAIN_QUIET_MS = 3 * BATCH_DELAY_MS

/** The share of traces the sampled variant keeps (OTEL_TRACES_SAMPLER=parentbased_traceidratio). */
const SAMPLED_RATIO = 0.1

type Variant = 'off' | 'sampled' | 'on'
const VARIANTS: Variant[] = ['off', 'sampled', 'on']
const TRACED: Array<Exclude<Variant, 'off'>> = ['sampled', 'on']
const LABELS: Record<Variant, string> = {
  off: 'tracing off (no endpoint)',
  sampled: `tracing on, ${SAMPLED_RATIO * 100} % of traces kept`,
  on: 'tracing on, every trace kept'
}

interface VariantFigures {
  /** cpuMsByRound: the same figure per round, to show how much it moves between rounds (the machine's noise). */
  read: { n: number, p50: number, p99: number, cpuMsPerRequest: number, cpuMsByRound: number[], rps: number }
  turn: { n: number, p50: number, p90: number, cpuMsPerTurn: number, cpuMsByRound: number[], failures: number }
  /** What the collector received while this variant was measured (each phase ends once its spans are sent). */
  exported: { traceRequests: number, traceBytes: number, metricRequests: number }
}
export interface TracingFigures {
  rounds: number
  secondsPerMeasurement: number
  turnsPerRound: number
  variants: Record<Variant, VariantFigures>
}

interface Target { gateway: GatewayService, user: BenchUser, threadId: string }

async function prepare (gateway: GatewayService): Promise<Target> {
  const user = userOf(gateway, 'bench-tracing')
  const threadId = await user.thread('Hello, what should I study next?')
  const run = await user.post(`/threads/${threadId}/runs`, { assistant_type: 'mentor' })
  if (run.status !== 200) throw new Error(`the fixture's run answered ${run.status}`)
  return { gateway, user, threadId }
}

async function turns (target: Target, n: number): Promise<Array<{ ms: number, ok: boolean }>> {
  const threads = await pool(Array.from({ length: n }, (_, i) => i), 8, () => target.user.thread(TURN_PROMPT))
  return pool(threads, TURN_CONCURRENCY, async id => {
    const res = await target.user.post<{ status: string }>(`/threads/${id}/runs`, { assistant_type: 'curator' })
    return { ms: res.ms, ok: res.status === 200 && res.body.status === 'completed' }
  })
}

async function measure (ctx: ScenarioContext): Promise<TracingFigures> {
  let sim: SimulatorService | undefined
  let sink: OtlpSink | undefined
  const gateways: GatewayService[] = []
  try {
    sim = await startSimulator({ generationMs: 50, queueMs: 0 })
    sink = await startOtlpSink()
    // The message cache off: every read makes its upstream call (and, with tracing, its client span). No load
    // shedding: on a busy shared machine it would turn measured requests into 503s.
    const common = { MESSAGE_CACHE_MB: '0', RUN_MAX_ACTIVE_PER_USER: '100', MAX_EVENT_LOOP_DELAY_MS: '0' }
    const off = await startGateway(sim, { env: common })
    gateways.push(off)
    const traced = { ...common, OTEL_EXPORTER_OTLP_ENDPOINT: sink.url, OTEL_BSP_SCHEDULE_DELAY: String(BATCH_DELAY_MS), OTEL_METRIC_EXPORT_INTERVAL: '5000' }
    const sampled = await startGateway(sim, { env: { ...traced, OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: String(SAMPLED_RATIO) } })
    gateways.push(sampled)
    const on = await startGateway(sim, { env: traced })
    gateways.push(on)
    const targets: Record<Variant, Target> = { off: await prepare(off), sampled: await prepare(sampled), on: await prepare(on) }
    ctx.log('warming up')
    for (const v of VARIANTS) {
      const { gateway, user, threadId } = targets[v]
      await runLoad({ url: `${gateway.url}/api/openai/threads/${threadId}/messages`, headers: user.headers, connections: 10, duration: WARMUP_SECONDS })
      await turns(targets[v], 8)
    }
    const acc = Object.fromEntries(VARIANTS.map(v => [v, {
      latencies: [] as number[], rps: [] as number[], readCpu: 0, reads: 0, turnMs: [] as number[], turnCpu: 0, failures: 0, readCpuByRound: [] as number[], turnCpuByRound: [] as number[], exported: { traceRequests: 0, traceBytes: 0, metricRequests: 0 }
    }])) as Record<Variant, { latencies: number[], rps: number[], readCpu: number, reads: number, turnMs: number[], turnCpu: number, failures: number, readCpuByRound: number[], turnCpuByRound: number[], exported: VariantFigures['exported'] }>
    // Spans are serialized and sent when their batch goes out, after the requests that made them: each measured
    // phase ends once the sink has gone quiet, so its export lands in its own CPU figure, not in the next phase's.
    const drained = () => sink!.drained(DRAIN_QUIET_MS)
    await drained()
    for (let r = 0; r < ROUNDS; r++) {
      // Alternating which goes first spreads the machine's drift over both.
      for (const v of r % 2 === 0 ? VARIANTS : [...VARIANTS].reverse()) {
        const { gateway, user, threadId } = targets[v]
        const a = acc[v]
        const before = await sink.received()
        ctx.log(`round ${r + 1}/${ROUNDS}: ${LABELS[v]}: proxied read, then ${TURNS_PER_ROUND} chat turns`)
        const url = `${gateway.url}/api/openai/threads/${threadId}/messages`
        let cpu = cpuTimeOf(gateway.pid)
        const c1 = await runLoad({ url, headers: user.headers, connections: 1, duration: SECONDS, keepLatencies: true })
        await drained()
        const readCpu = cpuDelta(cpu, cpuTimeOf(gateway.pid))
        a.latencies.push(...c1.latencies)
        if (readCpu) {
          a.readCpu += readCpu.userMs + readCpu.systemMs
          a.reads += c1.responses
          a.readCpuByRound.push(round((readCpu.userMs + readCpu.systemMs) / Math.max(1, c1.responses), 4))
        }
        a.rps.push((await runLoad({ url, headers: user.headers, connections: CONCURRENCY, duration: SECONDS })).rps)
        await drained()
        cpu = cpuTimeOf(gateway.pid)
        const done = await turns(targets[v], TURNS_PER_ROUND)
        await drained()
        const turnCpu = cpuDelta(cpu, cpuTimeOf(gateway.pid))
        if (turnCpu) {
          a.turnCpu += turnCpu.userMs + turnCpu.systemMs
          a.turnCpuByRound.push(round((turnCpu.userMs + turnCpu.systemMs) / TURNS_PER_ROUND, 3))
        }
        a.turnMs.push(...done.map(d => d.ms))
        a.failures += done.filter(d => !d.ok).length
        // Metric pushes come every 5 s whoever is measured; trace exports are this variant's own.
        const after = await sink.received()
        const delta = (path: string, key: 'requests' | 'bytes') => (after[path]?.[key] ?? 0) - (before[path]?.[key] ?? 0)
        a.exported.traceRequests += delta('/v1/traces', 'requests')
        a.exported.traceBytes += delta('/v1/traces', 'bytes')
        a.exported.metricRequests += delta('/v1/metrics', 'requests')
      }
    }
    const figures = (v: Variant): VariantFigures => {
      const a = acc[v]
      // Thread creation is part of the turns' measured CPU on both sides alike.
      const turnsMeasured = ROUNDS * TURNS_PER_ROUND
      return {
        read: { n: a.latencies.length, p50: round(median(a.latencies), 4), p99: round(percentile(a.latencies, 99), 4), cpuMsPerRequest: round(a.readCpu / Math.max(1, a.reads), 4), cpuMsByRound: a.readCpuByRound, rps: round(median(a.rps), 0) },
        turn: { n: a.turnMs.length, p50: round(median(a.turnMs), 2), p90: round(percentile(a.turnMs, 90), 2), cpuMsPerTurn: round(a.turnCpu / turnsMeasured, 3), cpuMsByRound: a.turnCpuByRound, failures: a.failures },
        exported: a.exported
      }
    }
    return { rounds: ROUNDS, secondsPerMeasurement: SECONDS, turnsPerRound: TURNS_PER_ROUND, variants: { off: figures('off'), sampled: figures('sampled'), on: figures('on') } }
  } finally {
    await stopAll([sim, ...gateways])
    await sink?.close()
  }
}

const fmt = (n: number, digits = 3) => n.toFixed(digits)
const byRound = (f: TracingFigures, what: 'read' | 'turn', digits: number) =>
  f.variants.off[what].cpuMsByRound.map((_, i) => VARIANTS.map(v => fmt(f.variants[v][what].cpuMsByRound[i] ?? NaN, digits)).join(' / ')).join('; ')
const pct = (on: number, off: number) => `${on >= off ? '+' : ''}${(((on - off) / off) * 100).toFixed(1)} %`

export default defineScenario<TracingFigures>({
  name: 'tracing',
  title: '9. What tracing costs',
  description: 'The same gateway three times, side by side: without an OTLP endpoint (the default: no OpenTelemetry SDK loaded), exporting ' +
    `${SAMPLED_RATIO * 100} % of traces (\`OTEL_TRACES_SAMPLER=parentbased_traceidratio\`), and exporting every trace; the traced ones send their span batches every ` +
    `${BATCH_DELAY_MS} ms and the GenAI metrics every 5 s over OTLP/HTTP protobuf to a local collector, in its own process, that keeps nothing. ` +
    'Measured on each: the proxied read (`GET /api/openai/threads/:id/messages` with the message cache off: a request span and the upstream call\'s client span) at ' +
    `concurrency 1 (latency, gateway CPU per request) and ${CONCURRENCY} (req/s), and a chat turn with a tool round (a thread created, then \`POST …/runs\` that waits: ` +
    `request spans, the run's, two upstream responses', their calls' and the tool's) ${TURN_CONCURRENCY} at a time. A phase's CPU is counted until the collector has been ` +
    `quiet for ${DRAIN_QUIET_MS} ms, so the export of its spans is in it. ${ROUNDS} rounds, the variants in alternating order.`,
  expectedSeconds: 180,
  run: measure,

  goals (f) {
    const off = f.variants.off
    const share = (v: VariantFigures) => ({
      read: (v.read.cpuMsPerRequest - off.read.cpuMsPerRequest) / off.read.cpuMsPerRequest,
      turn: (v.turn.cpuMsPerTurn - off.turn.cpuMsPerTurn) / off.turn.cpuMsPerTurn
    })
    return TRACED.map(variant => {
      const v = f.variants[variant]
      const added = share(v)
      return {
        goal: `With ${variant === 'on' ? 'every trace' : `${SAMPLED_RATIO * 100} % of traces`} kept, tracing adds at most ${CPU_SHARE_GOAL * 100} % CPU to a proxied read and to a chat turn`,
        met: added.read <= CPU_SHARE_GOAL && added.turn <= CPU_SHARE_GOAL && v.turn.failures === 0 && v.exported.traceRequests > 0,
        evidence: `proxied read: ${fmt(off.read.cpuMsPerRequest)} → ${fmt(v.read.cpuMsPerRequest)} ms CPU per request (${pct(v.read.cpuMsPerRequest, off.read.cpuMsPerRequest)}), ` +
          `p50 ${fmt(off.read.p50)} → ${fmt(v.read.p50)} ms, ${off.read.rps} → ${v.read.rps} req/s at c=${CONCURRENCY}; ` +
          `chat turn: ${fmt(off.turn.cpuMsPerTurn, 2)} → ${fmt(v.turn.cpuMsPerTurn, 2)} ms CPU per turn (${pct(v.turn.cpuMsPerTurn, off.turn.cpuMsPerTurn)}), ` +
          `p50 ${fmt(off.turn.p50, 1)} → ${fmt(v.turn.p50, 1)} ms; ${v.exported.traceRequests} trace exports (${Math.round(v.exported.traceBytes / 1024)} KiB)`
      }
    })
  },

  render (f) {
    const off = f.variants.off
    const bar = (v: VariantFigures, series: 'read' | 'turn') => series === 'read'
      ? { series: 'proxied read', value: round((v.read.cpuMsPerRequest / off.read.cpuMsPerRequest) * 100, 1), label: `${fmt(v.read.cpuMsPerRequest)} vs ${fmt(off.read.cpuMsPerRequest)} ms` }
      : { series: 'chat turn with a tool round', value: round((v.turn.cpuMsPerTurn / off.turn.cpuMsPerTurn) * 100, 1), label: `${fmt(v.turn.cpuMsPerTurn, 2)} vs ${fmt(off.turn.cpuMsPerTurn, 2)} ms` }
    return {
      tables: [{
        columns: ['', 'read p50 (ms)', 'read p99 (ms)', 'read CPU per request (ms)', `read req/s, c=${CONCURRENCY}`, 'turn p50 (ms)', 'turn p90 (ms)', 'turn CPU (ms)', 'trace exports (KiB)'],
        rows: VARIANTS.map(v => {
          const x = f.variants[v]
          return [LABELS[v], fmt(x.read.p50), fmt(x.read.p99), fmt(x.read.cpuMsPerRequest), x.read.rps, fmt(x.turn.p50, 1), fmt(x.turn.p90, 1), fmt(x.turn.cpuMsPerTurn, 2),
            `${x.exported.traceRequests} (${Math.round(x.exported.traceBytes / 1024)})`]
        })
      }],
      svg: barChart({
        title: 'What tracing costs: gateway CPU with tracing on, as a share of off',
        subtitle: 'same run, same simulator; OTLP/HTTP protobuf to a local collector, export included',
        unit: '% of the CPU with tracing off',
        series: ['proxied read', 'chat turn with a tool round'],
        groups: TRACED.map(v => ({ label: LABELS[v], bars: [bar(f.variants[v], 'read'), bar(f.variants[v], 'turn')] })),
        reference: { value: 100 * (1 + CPU_SHARE_GOAL), label: `goal ≤ ${100 * (1 + CPU_SHARE_GOAL)} %` }
      }),
      notes: [
        'CPU is the gateway process\'s user + system time from /proc (all its threads, the garbage collector\'s included; the steadiest figure on a shared machine); ' +
        'a turn\'s includes creating its thread, on every variant alike. Latency moves with the machine\'s load more than with tracing: compare CPU first. ' +
        `Per round, ms CPU (off / ${SAMPLED_RATIO * 100} % / every trace): read ${byRound(f, 'read', 3)}; turn ${byRound(f, 'turn', 1)}. ` +
        'Without an endpoint the gateway loads no OpenTelemetry SDK: its spans are the API\'s no-op and its metrics stay on /metrics. ' +
        `Turns that did not complete: ${VARIANTS.map(v => `${f.variants[v].turn.failures} ${v}`).join(', ')}. Metric exports while measured: ` +
        `${TRACED.map(v => `${f.variants[v].exported.metricRequests} (${v})`).join(', ')}.`
      ]
    }
  },

  // The read, on the gateway with tracing on: where its added CPU goes.
  async profile (ctx) {
    const sim = await startSimulator({ generationMs: 50, queueMs: 0 })
    const sink = await startOtlpSink()
    let gateway: GatewayService | undefined
    try {
      gateway = await startGateway(sim, { cpuProfile: true, env: { MESSAGE_CACHE_MB: '0', OTEL_EXPORTER_OTLP_ENDPOINT: sink.url, OTEL_BSP_SCHEDULE_DELAY: String(BATCH_DELAY_MS) } })
      const { user, threadId } = await prepare(gateway)
      const url = `${gateway.url}/api/openai/threads/${threadId}/messages`
      await runLoad({ url, headers: user.headers, connections: 10, duration: WARMUP_SECONDS })
      await sink.drained(DRAIN_QUIET_MS)
      ctx.log(`profiling the gateway with tracing on: the proxied read at c=1 for ${PROFILE_SECONDS} s`)
      const startUs = monotonicUs()
      const load = await runLoad({ url, headers: user.headers, connections: 1, duration: PROFILE_SECONDS })
      await sink.drained(DRAIN_QUIET_MS)
      const endUs = monotonicUs()
      await gateway.stop()
      if (!gateway.cpuProfile) throw new Error('the gateway wrote no CPU profile')
      return summarizeProfile(gateway.cpuProfile, `GET /api/openai/threads/:id/messages, message cache off, tracing on, at c=1 for ${PROFILE_SECONDS} s ` +
        `(${load.responses} requests) and until their spans were exported`, { startUs, endUs })
    } finally {
      await stopAll([sim, gateway])
      await sink.close()
    }
  }
})
