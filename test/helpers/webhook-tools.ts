import { createHmac, timingSafeEqual } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { BUNDLED_AGENTS_FILE } from '../../services/assistants/agents-file.ts'

export const WEBHOOK_SECRET = 'webhook-secret-for-tests-0123456789'

export interface WebhookCall {
  tool: string
  arguments: unknown
  user_id: string
  run_id: string
  thread_id: string
  signatureValid: boolean
  /** The W3C trace context the gateway sent (with tracing on). */
  traceparent?: string
}

function verify (req: IncomingMessage, body: string): boolean {
  const timestamp = String(req.headers['x-gateway-timestamp'] ?? '')
  const given = Buffer.from(String(req.headers['x-gateway-signature'] ?? ''))
  const expected = Buffer.from(`sha256=${createHmac('sha256', WEBHOOK_SECRET).update(`${timestamp}.${body}`).digest('hex')}`)
  return given.length === expected.length && timingSafeEqual(given, expected)
}

interface Teardown { teardown: (fn: () => unknown) => void }

async function listen (t: Teardown, server: Server): Promise<string> {
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.closeAllConnections(); return new Promise(resolve => server.close(resolve)) })
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

/** What sits behind the tool service on the internal network (a metadata service, an admin API): records what reaches it. */
export async function startInternalService (t: Teardown) {
  const requests: Array<{ method: string, url: string, headers: IncomingMessage['headers'], body: string }> = []
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', chunk => { body += chunk })
    req.on('end', () => {
      requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body })
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify({ secret: 'INTERNAL-ONLY-CREDENTIALS' }))
    })
  })
  return { url: await listen(t, server), requests }
}

/** Writes `bytes` of a JSON string as fast as the reader takes them (the server itself stays small); stops when the reader goes. */
function streamHuge (res: ServerResponse, bytes: number) {
  const chunk = Buffer.alloc(1024 * 1024, 'x')
  let sent = 0
  res.setHeader('content-type', 'application/json')
  res.write('"')
  const pump = () => {
    while (sent < bytes && !res.destroyed) {
      sent += chunk.length
      if (!res.write(chunk)) {
        res.once('drain', pump)
        return
      }
    }
    if (!res.destroyed) res.end('"')
  }
  res.on('close', () => { sent = bytes })
  pump()
}

/**
 * A tool service as an operator would write one: it checks the gateway's HMAC signature and answers
 * per tool — achievements (the seed's example), a failing tool, a hanging tool, a tool that makes the
 * model call it again (for the round limit) — and hostile ones: redirects to `internal` (302, and a 307
 * that would re-send the signed body), an answer of `arguments.mb` MiB, an answer that never ends.
 */
export async function startWebhookTools (t: Teardown, internal?: { url: string }) {
  const calls: WebhookCall[] = []
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', chunk => { body += chunk })
    req.on('end', () => {
      const signatureValid = verify(req, body)
      const parsed = JSON.parse(body) as Omit<WebhookCall, 'signatureValid'>
      calls.push({ ...parsed, signatureValid, ...(req.headers.traceparent ? { traceparent: String(req.headers.traceparent) } : {}) })
      if (!signatureValid) { res.statusCode = 401; res.end(); return }
      res.setHeader('content-type', 'application/json')
      switch (parsed.tool) {
        case 'get_user_achievements': {
          const limit = (parsed.arguments as { limit?: number }).limit ?? 3
          res.end(JSON.stringify({ user: parsed.user_id, achievements: ['first-lesson', 'week-streak', 'quiz-ace'].slice(0, limit) }))
          break
        }
        case 'flaky_tool': res.statusCode = 500; res.end('{"oops":true}'); break
        case 'slow_tool': break // never answers: the gateway's tool timeout must fire
        case 'loop_tool': res.end(JSON.stringify('again [call:loop_tool {}]')); break
        case 'redirect_tool': res.writeHead(302, { location: `${internal?.url}/latest/meta-data/iam/security-credentials` }).end(); break
        case 'resend_tool': res.writeHead(307, { location: `${internal?.url}/collect` }).end(); break
        case 'huge_tool': streamHuge(res, (parsed.arguments as { mb: number }).mb * 1024 * 1024); break
        case 'trickle_tool': res.write('{"partial": "'); break // headers and a start, then nothing: the whole read is timed
        default: res.statusCode = 404; res.end()
      }
    })
  })
  return { url: await listen(t, server), calls }
}

const schema = (properties: Record<string, unknown> = {}) => ({ type: 'object', properties, additionalProperties: false })

/** The bundled agents plus webhook tools, written to `dir`; curator gets every tool. Returns the path. */
export function writeAgentsFile (dir: string, webhookUrl: string, extraToolTimeoutMs = 300): string {
  const bundled = JSON.parse(readFileSync(BUNDLED_AGENTS_FILE, 'utf8'))
  const tools = [
    { name: 'get_user_achievements', type: 'webhook', url: `${webhookUrl}/tools`, description: 'The learner\'s achievements', parameters: schema({ limit: { type: 'integer', minimum: 1, maximum: 10 } }) },
    { name: 'flaky_tool', type: 'webhook', url: `${webhookUrl}/tools`, description: 'Always fails', parameters: schema() },
    { name: 'slow_tool', type: 'webhook', url: `${webhookUrl}/tools`, description: 'Never answers', parameters: schema(), timeout_ms: extraToolTimeoutMs },
    { name: 'loop_tool', type: 'webhook', url: `${webhookUrl}/tools`, description: 'Asks to be called again', parameters: schema() },
    { name: 'redirect_tool', type: 'webhook', url: `${webhookUrl}/tools`, description: 'Redirects to an internal address', parameters: schema() },
    { name: 'resend_tool', type: 'webhook', url: `${webhookUrl}/tools`, description: 'Redirects with 307 (the body would be sent again)', parameters: schema() },
    { name: 'huge_tool', type: 'webhook', url: `${webhookUrl}/tools`, description: 'Answers mb MiB', parameters: schema({ mb: { type: 'integer', minimum: 1, maximum: 1024 } }), timeout_ms: 60_000 },
    { name: 'trickle_tool', type: 'webhook', url: `${webhookUrl}/tools`, description: 'Starts answering, never finishes', parameters: schema(), timeout_ms: extraToolTimeoutMs }
  ]
  for (const agent of bundled.agents) {
    if (agent.id === 'curator') agent.tools = ['get_current_time', ...tools.map(x => x.name)]
  }
  const path = join(dir, 'agents.json')
  writeFileSync(path, JSON.stringify({ agents: bundled.agents, tools }, null, 2))
  return path
}
