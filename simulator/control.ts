import type { IncomingMessage, ServerResponse } from 'node:http'
import { ApiError, badRequest } from './errors.ts'
import type { FaultRule, Latency } from './faults.ts'
import { parseQuery, send } from './http.ts'
import type { ConfigPatch, Simulator } from './index.ts'

interface ControlContext {
  req: IncomingMessage
  res: ServerResponse
  requestId: string
  startedAt: number
}

export async function readJson (req: IncomingMessage, limit = 16 * 1024 * 1024): Promise<unknown> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    size += (chunk as Buffer).length
    if (size > limit) throw new ApiError(413, `Maximum content size limit (${limit}) exceeded (${size} bytes read)`, { type: 'server_error' })
    chunks.push(chunk as Buffer)
  }
  if (size === 0) return undefined
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'))
  } catch {
    throw badRequest('We could not parse the JSON body of your request. (HINT: This likely means you aren\'t using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)')
  }
}

function toPatch (body: Record<string, unknown>): ConfigPatch {
  const patch: ConfigPatch = {}
  const numberOrNull = (key: string): number | null | undefined => {
    const value = body[key]
    if (value === undefined) return undefined
    if (value === null) return null
    if (typeof value !== 'number' || value < 0) throw badRequest(`'${key}' must be a non-negative number or null`, key)
    return value
  }
  for (const key of ['generationMs', 'queueMs', 'contextWindowTokens', 'promptCacheMinTokens'] as const) {
    const value = numberOrNull(key)
    if (value === null) throw badRequest(`'${key}' must be a non-negative number`, key)
    if (value !== undefined) patch[key] = value
  }
  for (const key of ['streamChunkMs', 'pollAfterMs'] as const) {
    const value = numberOrNull(key)
    if (value !== undefined) patch[key] = value
  }
  if (body.latency !== undefined) {
    const latency = body.latency as Partial<Latency>
    if (typeof latency !== 'object' || latency === null) throw badRequest('\'latency\' must be an object', 'latency')
    patch.latency = latency
  }
  if (body.webhooks !== undefined) {
    if (typeof body.webhooks !== 'object' || body.webhooks === null || Array.isArray(body.webhooks)) throw badRequest('\'webhooks\' must be an object', 'webhooks')
    patch.webhooks = body.webhooks as ConfigPatch['webhooks']
  }
  if (body.safetyNotices !== undefined) {
    if (body.safetyNotices !== 'with-identifier' && body.safetyNotices !== 'case-only') throw badRequest('\'safetyNotices\' must be \'with-identifier\' or \'case-only\'', 'safetyNotices')
    patch.safetyNotices = body.safetyNotices
  }
  if (body.safetyReadKeys !== undefined) {
    if (!Array.isArray(body.safetyReadKeys) || !body.safetyReadKeys.every((k) => typeof k === 'string' && k !== '')) throw badRequest('\'safetyReadKeys\' must be an array of keys', 'safetyReadKeys')
    patch.safetyReadKeys = body.safetyReadKeys as string[]
  }
  if (typeof body.validate === 'boolean') patch.validate = body.validate
  if (typeof body.sampleParamRejectPattern === 'string') patch.sampleParamRejectPattern = new RegExp(body.sampleParamRejectPattern)
  return patch
}

function count (query: Record<string, unknown>, key: string): number | undefined {
  const value = query[key]
  if (value === undefined) return undefined
  const n = Number(value)
  if (!Number.isInteger(n) || n < 0) throw badRequest(`'${key}' must be a non-negative integer`, key)
  return n
}

/** `/__sim/*`: the in-process API over HTTP, for the demo, benchmarks and other processes. */
export async function control (sim: Simulator, ctx: ControlContext, path: string, search = ''): Promise<void> {
  const route = `${ctx.req.method} ${path}`
  switch (route) {
    case 'GET /__sim/requests': {
      const query = parseQuery(search)
      const operation = typeof query.operation === 'string' ? query.operation : undefined
      const data = sim.requestLog({ after: count(query, 'after'), limit: count(query, 'limit'), operation })
      send(ctx, 200, { object: 'list', data, total: sim.stats().requests })
      return
    }
    case 'GET /__sim/stats':
      send(ctx, 200, sim.stats())
      return
    case 'GET /__sim/webhooks':
      send(ctx, 200, { settings: sim.webhooks.settings(), stats: sim.webhooks.stats(), deliveries: sim.webhooks.deliveries() })
      return
    case 'GET /__sim/faults':
      send(ctx, 200, { object: 'list', data: sim.faults.list() })
      return
    case 'POST /__sim/faults': {
      const body = await readJson(ctx.req)
      const rules = (Array.isArray(body) ? body : [body]) as FaultRule[]
      const ids = rules.map((rule) => sim.faults.add(rule))
      send(ctx, 200, { ids })
      return
    }
    case 'DELETE /__sim/faults':
      sim.faults.clear()
      send(ctx, 200, { cleared: true })
      return
    case 'POST /__sim/reset':
      sim.reset()
      send(ctx, 200, { reset: true })
      return
    case 'GET /__sim/config':
      send(ctx, 200, sim.config())
      return
    case 'POST /__sim/config': {
      const body = await readJson(ctx.req)
      if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badRequest('expected a JSON object')
      try {
        sim.configure(toPatch(body as Record<string, unknown>))
      } catch (error) {
        // The webhook settings check throws TypeError: a bad value in the body, not a simulator fault.
        if (error instanceof TypeError) throw badRequest(error.message, 'webhooks')
        throw error
      }
      send(ctx, 200, sim.config())
      return
    }
    default:
      throw new ApiError(404, `Invalid URL (${route})`)
  }
}
