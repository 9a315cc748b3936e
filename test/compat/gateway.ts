import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { buildServer } from '../../server.ts'
import type { Simulator, SimulatorOptions } from '../../simulator/index.ts'
import { startSim, testConfig } from '../helpers/build.ts'

interface Teardown { teardown: (fn: () => unknown) => void }

/** One HTTP request the gateway received, as the SDK sent it, and what it answered. */
export interface WireEntry {
  method: string
  path: string
  query: URLSearchParams
  headers: IncomingHttpHeaders
  /** 0 until the answer is sent. */
  status: number
  resHeaders: OutgoingHttpHeaders
}

export interface WireLog {
  entries: WireEntry[]
  /** Requests whose method matches and whose path matches (a string is an exact path). */
  count: (method: string, path: string | RegExp) => number
  /** Entries from this index on: `const mark = wire.mark(); …; wire.since(mark)`. */
  mark: () => number
  since: (mark: number) => WireEntry[]
}

export interface CompatGateway {
  sim: Simulator
  app: FastifyInstance
  /** `http://127.0.0.1:<port>` */
  origin: string
  /** What an SPA puts in the SDK's `baseURL`. */
  baseURL: string
  wire: WireLog
}

export interface CompatOptions {
  env?: Record<string, string>
  sim?: Partial<SimulatorOptions>
}

/**
 * Records every request on the gateway's own HTTP server (not a Fastify hook, so nothing the app does,
 * 404s and preflights included, escapes it). Recorded when it arrives, completed when answered.
 */
function attachWireLog (app: FastifyInstance): WireLog {
  const entries: WireEntry[] = []
  app.server.on('request', (req, res) => {
    const url = new URL(req.url ?? '/', 'http://gateway')
    const entry: WireEntry = { method: req.method ?? '', path: url.pathname, query: url.searchParams, headers: req.headers, status: 0, resHeaders: {} }
    entries.push(entry)
    // Headers handed to writeHead directly (as Fastify does) never show in getHeaders(): they are taken here.
    const written: OutgoingHttpHeaders = {}
    const writeHead = res.writeHead.bind(res) as (...args: unknown[]) => typeof res
    res.writeHead = ((...args: unknown[]) => {
      const headers = args.find((arg, i) => i > 0 && typeof arg === 'object' && arg !== null && !Array.isArray(arg)) as OutgoingHttpHeaders | undefined
      for (const [name, value] of Object.entries(headers ?? {})) written[name.toLowerCase()] = value
      return writeHead(...args)
    }) as typeof res.writeHead
    res.once('finish', () => {
      entry.status = res.statusCode
      entry.resHeaders = { ...res.getHeaders(), ...written }
    })
  })
  const matches = (entry: WireEntry, method: string, path: string | RegExp) =>
    entry.method === method && (typeof path === 'string' ? entry.path === path : path.test(entry.path))
  return {
    entries,
    count: (method, path) => entries.filter(e => matches(e, method, path)).length,
    mark: () => entries.length,
    since: mark => entries.slice(mark)
  }
}

/**
 * The gateway as an SDK meets it: production server options, a real socket on 127.0.0.1, the simulator
 * upstream. Rate limits are lifted (a suite of many calls per user is not what these tests are about).
 */
export async function startCompat (t: Teardown, options: CompatOptions = {}): Promise<CompatGateway> {
  const sim = await startSim(t, { generationMs: 30, queueMs: 5, ...options.sim })
  const config = testConfig(sim, {
    RATE_LIMIT_MAX: '100000',
    RATE_LIMIT_RUNS_MAX: '100000',
    RATE_LIMIT_UPLOADS_MAX: '100000',
    RUN_MAX_ACTIVE_PER_USER: '20',
    ...options.env
  })
  const app = await buildServer(config)
  t.teardown(() => app.close())
  const wire = attachWireLog(app)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const origin = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
  return { sim, app, origin, baseURL: `${origin}/api/openai`, wire }
}

/** A header of an SDK error: 4.x gives a plain record, later majors a `Headers`. */
export function headerOf (headers: unknown, name: string): string | undefined {
  if (!headers) return undefined
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? undefined
  const record = headers as Record<string, string | string[] | undefined>
  const value = record[name] ?? record[name.toLowerCase()]
  return Array.isArray(value) ? value.join(', ') : value
}
