import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { startSim, tempDir, testEnv } from '../helpers/build.ts'
import { startGatewayProcess } from '../helpers/process.ts'
import { bearer, userToken } from '../helpers/tokens.ts'
import { startWebhookTools, writeAgentsFile, WEBHOOK_SECRET } from '../helpers/webhook-tools.ts'

/** The gateway process's peak resident memory so far (VmHWM), in MiB. */
function peakRssMiB (pid: number): number {
  const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  if (!match) throw new Error('no VmHWM in /proc/<pid>/status')
  return Number(match[1]) / 1024
}

const ANSWER_MIB = 200
const GROWTH_LIMIT_MIB = 48

t.test(`a ${ANSWER_MIB} MiB webhook answer: read only up to its limit, the gateway's peak memory barely moves`, { skip: process.platform !== 'linux' && 'needs /proc' }, async t => {
  const sim = await startSim(t)
  const hooks = await startWebhookTools(t)
  const dir = tempDir(t)
  const env = testEnv(sim, {
    SQLITE_PATH: join(dir, 'gw.db'),
    AGENTS_FILE: writeAgentsFile(dir, hooks.url),
    TOOL_WEBHOOK_SECRET: WEBHOOK_SECRET,
    TOOL_WEBHOOK_ALLOWED_NETWORKS: '127.0.0.1',
    RUN_WAIT_TIMEOUT_MS: '60000'
  })
  const gw = await startGatewayProcess(t, env)
  const headers = { ...bearer(userToken('alice')), 'content-type': 'application/json' }
  async function turn (text: string): Promise<string> {
    const thread = await (await fetch(`${gw.url}/api/openai/threads`, { method: 'POST', headers, body: JSON.stringify({ messages: [{ role: 'user', content: text }] }) })).json() as { id: string }
    const run = await fetch(`${gw.url}/api/openai/threads/${thread.id}/runs`, { method: 'POST', headers, body: JSON.stringify({ assistant_type: 'curator' }) })
    t.equal(run.status, 200)
    const messages = await (await fetch(`${gw.url}/api/openai/threads/${thread.id}/messages?order=asc`, { headers })).json() as { data: Array<{ content: Array<{ text: { value: string } }> }> }
    return messages.data.at(-1)!.content[0]!.text.value
  }

  // The same path once with a small answer, so what is measured next is the answer alone.
  await turn('Warm up [call:huge_tool {"mb":1}]')
  const before = peakRssMiB(gw.child.pid!)
  const answer = await turn(`Huge [call:huge_tool {"mb":${ANSWER_MIB}}]`)
  const growth = peakRssMiB(gw.child.pid!) - before
  t.match(answer, /"error":"tool_failed","message":"the tool service's answer is larger than 131072 bytes"/)
  t.ok(growth < GROWTH_LIMIT_MIB, `peak RSS grew by ${growth.toFixed(1)} MiB (from ${before.toFixed(0)} MiB)`)
})
