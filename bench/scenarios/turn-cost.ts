import { startByteCounter } from '../harness/byte-counter.ts'
import { counterDelta, requestJson, totalOf, userOf, type BenchUser } from '../harness/http.ts'
import { startGateway, startSimulator, stopAll, type GatewayService, type SimulatorService } from '../harness/processes.ts'
import { round } from '../harness/stats.ts'
import { barChart } from '../report/svg.ts'
import { defineScenario } from './types.ts'

/** Measured turns per kind (each on its own thread, after one unmeasured turn on it). */
const TURNS = 10
const CLIENT_TOOL = 'get_learner_context'

type Kind = 'plain' | 'streamed' | 'tool'
const KINDS: Kind[] = ['plain', 'streamed', 'tool']
const LABELS: Record<Kind, string> = {
  plain: 'plain: POST …/runs (wait) with the message, then the answer read (GET …/messages?limit=1)',
  streamed: 'streamed: POST …/runs with the message, stream: true',
  tool: 'with a tool round: POST …/runs (wait) → requires_action, POST …/submit_tool_outputs (wait)'
}

/**
 * The fewest requests the contract allows: the new message is written to the conversation when the run
 * starts (Assistants semantics: `additional_messages` are on the thread before the run and stay there if
 * it fails; carried as the response's input instead, OpenAI writes them only when the response ends with
 * output), then one Responses create, streamed, that also tells the end; the answer of a run not streamed
 * is one items read; a client tool round is a second create carrying the outputs. More fails the verdict.
 */
const MIN_REQUESTS: Record<Kind, number> = { plain: 3, streamed: 2, tool: 3 }
/**
 * Upstream bytes per turn (sent + received, on the wire) measured when this scenario was written, with
 * 15 % room for ids and timings: a turn that grows past it (a field sent twice, a stream read twice, an
 * extra read) fails the verdict. Lower them when a change makes turns cheaper.
 */
const BYTE_BUDGET: Record<Kind, number> = { plain: 15_663, streamed: 14_179, tool: 24_805 }
const BYTE_ROOM = 1.15

interface KindFigures { turns: number, failures: number, requests: Record<string, number>, requestsPerTurn: number, sentPerTurn: number, receivedPerTurn: number }
export interface TurnCostFigures { turns: number, kinds: Record<Kind, KindFigures>, nonconforming: number }

/** Reads an event stream to its end (the gateway ends it when the run is done); true when it ended in `done`. */
async function streamed (user: BenchUser, gateway: GatewayService, threadId: string, text: string): Promise<boolean> {
  const res = await fetch(`${gateway.url}/api/openai/threads/${threadId}/runs`, {
    method: 'POST',
    headers: { ...user.headers, 'content-type': 'application/json', accept: 'text/event-stream' },
    body: JSON.stringify({ assistant_type: 'mentor', stream: true, additional_messages: [{ role: 'user', content: text }] }),
    signal: AbortSignal.timeout(60_000)
  })
  const body = await res.text()
  return res.status === 200 && body.includes('event: thread.run.completed') && body.includes('event: done')
}

async function turn (kind: Kind, user: BenchUser, gateway: GatewayService, threadId: string): Promise<boolean> {
  const message = (text: string) => [{ role: 'user', content: text }]
  if (kind === 'streamed') return streamed(user, gateway, threadId, '[slow:100] What should I study next?')
  if (kind === 'plain') {
    const run = await user.post<{ status: string }>(`/threads/${threadId}/runs`, { assistant_type: 'mentor', additional_messages: message('[slow:100] What should I study next?') })
    const answer = await user.get<{ data: Array<{ role: string }> }>(`/threads/${threadId}/messages?limit=1`)
    return run.body.status === 'completed' && answer.status === 200 && answer.body.data[0]?.role === 'assistant'
  }
  const paused = await user.post<{ id: string, status: string, required_action?: { submit_tool_outputs: { tool_calls: Array<{ id: string }> } } }>(
    `/threads/${threadId}/runs`, { assistant_type: 'curator', additional_messages: message(`Where am I? [call:${CLIENT_TOOL} {}]`) })
  const call = paused.body.required_action?.submit_tool_outputs.tool_calls[0]
  if (paused.body.status !== 'requires_action' || !call) return false
  const done = await requestJson<{ status: string }>(`${gateway.url}/api/openai/threads/${threadId}/runs/${paused.body.id}/submit_tool_outputs`, {
    method: 'POST', headers: user.headers, body: { tool_outputs: [{ tool_call_id: call.id, output: '{"page":"algebra/3","time_zone":"Europe/Paris"}' }] }
  })
  return done.body.status === 'completed'
}

async function measure (): Promise<TurnCostFigures> {
  let sim: SimulatorService | undefined
  let gateway: GatewayService | undefined
  let counter: Awaited<ReturnType<typeof startByteCounter>> | undefined
  try {
    sim = await startSimulator({ queueMs: 10 })
    const target = new URL(sim.v1)
    counter = await startByteCounter({ host: target.hostname, port: Number(target.port) })
    gateway = await startGateway({ ...sim, v1: `${counter.origin}/v1` })
    const user = userOf(gateway, 'bench-turn-cost')
    const kinds = {} as Record<Kind, KindFigures>
    for (const kind of KINDS) {
      let failures = 0
      const requests: Record<string, number> = {}
      let sent = 0
      let received = 0
      for (let i = 0; i < TURNS; i++) {
        const threadId = await user.thread('[slow:50] Hello')
        if (!await turn(kind, user, gateway, threadId)) failures++
        // Only the second turn of a thread is counted: a thread's first can differ from every later one.
        const [before, bytesBefore] = [(await sim.stats()).counters, counter.read()]
        if (!await turn(kind, user, gateway, threadId)) failures++
        const [after, bytesAfter] = [(await sim.stats()).counters, counter.read()]
        for (const [op, n] of Object.entries(counterDelta(before, after))) requests[op] = (requests[op] ?? 0) + n
        sent += bytesAfter.sent - bytesBefore.sent
        received += bytesAfter.received - bytesBefore.received
      }
      kinds[kind] = {
        turns: TURNS,
        failures,
        requests,
        requestsPerTurn: round(totalOf(requests) / TURNS, 2),
        sentPerTurn: Math.round(sent / TURNS),
        receivedPerTurn: Math.round(received / TURNS)
      }
    }
    return { turns: TURNS, kinds, nonconforming: (await sim.stats()).nonconforming.count }
  } finally {
    await stopAll([sim, gateway])
    await counter?.close()
  }
}

const bytesOf = (k: KindFigures) => k.sentPerTurn + k.receivedPerTurn

export default defineScenario<TurnCostFigures>({
  name: 'turn-cost',
  title: '10. Upstream cost per chat turn',
  description: 'Upstream requests and bytes per chat turn, as an SPA makes them: ' + KINDS.map(k => LABELS[k]).join('; ') + '. ' +
    `${TURNS} turns of each kind, each the second turn of its own thread (the first is not counted), one after the other on one gateway; ` +
    'requests from the simulator\'s counters, bytes on the wire through a TCP relay between the gateway and the simulator ' +
    '(request and response headers and bodies, event streams included). A turn above the API\'s minimum in requests, or above the ' +
    `byte budget (${Math.round((BYTE_ROOM - 1) * 100)} % over what was measured when the figure was set), fails the verdict.`,
  expectedSeconds: 40,
  run: measure,

  goals (f) {
    return KINDS.map(kind => {
      const k = f.kinds[kind]
      const budget = BYTE_BUDGET[kind] * BYTE_ROOM
      return {
        goal: `${kind} turn: at most ${MIN_REQUESTS[kind]} upstream requests${budget ? ` and ${Math.round(budget)} bytes` : ''}, every request conformant`,
        met: k.failures === 0 && f.nonconforming === 0 && k.requestsPerTurn <= MIN_REQUESTS[kind] && (!budget || bytesOf(k) <= budget),
        evidence: `${k.requestsPerTurn} upstream requests per turn (${Object.entries(k.requests).map(([op, n]) => `${op} ${round(n / k.turns, 2)}`).join(', ')}); ` +
          `${bytesOf(k)} bytes per turn (${k.sentPerTurn} sent, ${k.receivedPerTurn} received)${budget ? `, budget ${Math.round(budget)}` : ''}; ` +
          `${k.failures} failed turns; ${f.nonconforming} nonconforming upstream requests`
      }
    })
  },

  render (f) {
    return {
      tables: [{
        columns: ['turn', 'upstream requests per turn', 'API minimum', 'by operation (per turn)', 'bytes sent per turn', 'bytes received per turn', 'byte budget'],
        rows: KINDS.map(kind => {
          const k = f.kinds[kind]
          return [LABELS[kind], k.requestsPerTurn, MIN_REQUESTS[kind], Object.entries(k.requests).map(([op, n]) => `${op}: ${round(n / k.turns, 2)}`).join(', '),
            k.sentPerTurn, k.receivedPerTurn, BYTE_BUDGET[kind] ? Math.round(BYTE_BUDGET[kind] * BYTE_ROOM) : '—']
        })
      }],
      svg: barChart({
        title: 'Upstream bytes per chat turn',
        subtitle: `${f.turns} turns of each kind; requests per turn: ${KINDS.map(k => `${k} ${f.kinds[k].requestsPerTurn}`).join(', ')}`,
        unit: 'bytes',
        series: ['sent', 'received'],
        groups: KINDS.map(kind => ({ label: kind, bars: [{ series: 'sent', value: f.kinds[kind].sentPerTurn }, { series: 'received', value: f.kinds[kind].receivedPerTurn }] }))
      }),
      notes: [
        'The new message (`additional_messages`) is written to the conversation when the run starts, as the Assistants contract has it (it stays ' +
        'on the thread if the run fails); a run not streamed by its client still learns of its end from the upstream stream the gateway holds ' +
        '(no polls), and the answer read is the one items list the SPA asks for. ' +
        'Received bytes are mostly the event stream of the generation (every delta event carries its ids and sequence number, as OpenAI sends it).'
      ]
    }
  }
})
