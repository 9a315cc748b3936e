/**
 * What the smoke test and the deployment-kit check ask of a running gateway: readiness, one chat turn
 * (thread, message, a run that waits, the answer in the thread) and one streamed run, with a token signed
 * by the gateway's JWT_SECRET. Each returns a verdict and what was seen, for the report.
 */
import { mintToken } from './dev-tokens.ts'

export interface Verdict { ok: boolean, detail: string }

/** Polls /health/ready until 200, as a load balancer would; readiness may lag listening by a moment. */
export async function waitReady (url: string, timeoutMs: number, path = '/health/ready'): Promise<Verdict> {
  const deadline = Date.now() + timeoutMs
  let last = ''
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`${url}${path}`)
      last = `${res.status} ${await res.text()}`
      if (res.status === 200) return { ok: true, detail: last }
    } catch (err) {
      last = (err as Error).message
    }
    await new Promise(resolve => setTimeout(resolve, 250))
  }
  return { ok: false, detail: `not ready after ${timeoutMs} ms: ${last}` }
}

function client (url: string, secret: string) {
  const headers = { authorization: `Bearer ${mintToken(secret, { sub: 'deploy-check' })}`, 'content-type': 'application/json' }
  const api = `${url}/api/openai`
  const post = async (path: string, body: unknown, extra: Record<string, string> = {}) => {
    const res = await fetch(`${api}${path}`, { method: 'POST', headers: { ...headers, ...extra }, body: JSON.stringify(body) })
    return { status: res.status, text: await res.text() }
  }
  return { api, headers, post }
}

async function newThreadWithQuestion (post: ReturnType<typeof client>['post']): Promise<{ id?: string, seen: string }> {
  const thread = await post('/threads', { title: 'deploy check' })
  const id = thread.status === 201 ? (JSON.parse(thread.text) as { id: string }).id : undefined
  const message = id ? await post(`/threads/${id}/messages`, { content: 'What should I study next?' }) : undefined
  return { id: message?.status === 201 ? id : undefined, seen: `thread ${thread.status}, message ${message?.status ?? '-'}` }
}

/** One chat turn: the run waits and completes, and the assistant's answer is in the thread. */
export async function chatTurn (url: string, secret: string): Promise<Verdict> {
  const { api, headers, post } = client(url, secret)
  const { id, seen } = await newThreadWithQuestion(post)
  if (!id) return { ok: false, detail: seen }
  const run = await post(`/threads/${id}/runs`, { assistant_type: 'curator' })
  const status = run.status === 200 ? (JSON.parse(run.text) as { status: string }).status : run.text.slice(0, 300)
  const list = await fetch(`${api}/threads/${id}/messages?order=asc`, { headers })
  const messages = (await list.json() as { data?: Array<{ role: string, content: Array<{ text?: { value: string } }> }> }).data ?? []
  const answer = messages.find(m => m.role === 'assistant')?.content[0]?.text?.value ?? ''
  return { ok: run.status === 200 && status === 'completed' && answer.length > 0, detail: `${seen}, run ${run.status} ${status}, answer '${answer.slice(0, 80)}'` }
}

/** A streamed run: server-sent events with the answer's deltas, the run completed, then [DONE]. */
export async function streamedTurn (url: string, secret: string): Promise<Verdict> {
  const { post } = client(url, secret)
  const { id, seen } = await newThreadWithQuestion(post)
  if (!id) return { ok: false, detail: seen }
  const run = await post(`/threads/${id}/runs`, { assistant_type: 'curator', stream: true }, { accept: 'text/event-stream' })
  const ok = run.status === 200 && run.text.includes('thread.message.delta') && run.text.includes('thread.run.completed') && run.text.trimEnd().endsWith('data: [DONE]')
  return { ok, detail: `${seen}, stream ${run.status}: ${run.text.slice(0, 200).replaceAll('\n', '⏎')} … ${run.text.slice(-60).replaceAll('\n', '⏎')}` }
}
