import { createHmac, timingSafeEqual } from 'node:crypto'
import { createServer, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { BUNDLED_AGENTS_FILE } from '../../services/assistants/agents-file.ts'

export const WEBHOOK_SECRET = 'webhook-secret-for-tests-0123456789'

export interface WebhookCall { tool: string, arguments: unknown, user_id: string, run_id: string, thread_id: string, signatureValid: boolean }

function verify (req: IncomingMessage, body: string): boolean {
  const timestamp = String(req.headers['x-gateway-timestamp'] ?? '')
  const given = Buffer.from(String(req.headers['x-gateway-signature'] ?? ''))
  const expected = Buffer.from(`sha256=${createHmac('sha256', WEBHOOK_SECRET).update(`${timestamp}.${body}`).digest('hex')}`)
  return given.length === expected.length && timingSafeEqual(given, expected)
}

/**
 * A tool service as an operator would write one: it checks the gateway's HMAC signature and answers
 * per tool — achievements (the seed's example), a failing tool, a hanging tool, a tool that makes the
 * model call it again (for the round limit).
 */
export async function startWebhookTools (t: { teardown: (fn: () => unknown) => void }) {
  const calls: WebhookCall[] = []
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', chunk => { body += chunk })
    req.on('end', () => {
      const signatureValid = verify(req, body)
      const parsed = JSON.parse(body) as Omit<WebhookCall, 'signatureValid'>
      calls.push({ ...parsed, signatureValid })
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
        default: res.statusCode = 404; res.end()
      }
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.closeAllConnections(); return new Promise(resolve => server.close(resolve)) })
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return { url, calls }
}

const schema = (properties: Record<string, unknown> = {}) => ({ type: 'object', properties, additionalProperties: false })

/** The bundled agents plus webhook tools, written to `dir`; curator gets every tool. Returns the path. */
export function writeAgentsFile (dir: string, webhookUrl: string, extraToolTimeoutMs = 300): string {
  const bundled = JSON.parse(readFileSync(BUNDLED_AGENTS_FILE, 'utf8'))
  const tools = [
    { name: 'get_user_achievements', type: 'webhook', url: `${webhookUrl}/tools`, description: 'The learner\'s achievements', parameters: schema({ limit: { type: 'integer', minimum: 1, maximum: 10 } }) },
    { name: 'flaky_tool', type: 'webhook', url: `${webhookUrl}/tools`, description: 'Always fails', parameters: schema() },
    { name: 'slow_tool', type: 'webhook', url: `${webhookUrl}/tools`, description: 'Never answers', parameters: schema(), timeout_ms: extraToolTimeoutMs },
    { name: 'loop_tool', type: 'webhook', url: `${webhookUrl}/tools`, description: 'Asks to be called again', parameters: schema() }
  ]
  for (const agent of bundled.agents) {
    if (agent.id === 'curator') agent.tools = ['get_current_time', ...tools.map(x => x.name)]
  }
  const path = join(dir, 'agents.json')
  writeFileSync(path, JSON.stringify({ agents: bundled.agents, tools }, null, 2))
  return path
}
