import { createServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'

/** An OTLP/JSON attribute value, decoded. */
export type Value = string | number | boolean | Value[] | null

interface AnyValue { stringValue?: string, intValue?: string | number, doubleValue?: number, boolValue?: boolean, arrayValue?: { values?: AnyValue[] } }
interface KeyValue { key: string, value: AnyValue }

function decode (value: AnyValue | undefined): Value {
  if (!value) return null
  if (value.stringValue !== undefined) return value.stringValue
  if (value.intValue !== undefined) return Number(value.intValue)
  if (value.doubleValue !== undefined) return value.doubleValue
  if (value.boolValue !== undefined) return value.boolValue
  if (value.arrayValue !== undefined) return (value.arrayValue.values ?? []).map(decode)
  return null
}
const attributesOf = (list: KeyValue[] | undefined): Record<string, Value> => Object.fromEntries((list ?? []).map(kv => [kv.key, decode(kv.value)]))

export interface ReceivedSpan {
  traceId: string
  spanId: string
  parentSpanId: string
  name: string
  kind: number
  attributes: Record<string, Value>
  links: Array<{ traceId: string, spanId: string, attributes: Record<string, Value> }>
  status: { code?: number, message?: string }
  resource: Record<string, Value>
  scope: string
}

export interface ReceivedMetric {
  name: string
  unit: string
  resource: Record<string, Value>
  points: Array<{ attributes: Record<string, Value>, count?: number, sum?: number, value?: number }>
}

interface Teardown { teardown: (fn: () => unknown) => void }

/**
 * A collector's OTLP/HTTP endpoint, as small as it gets: accepts JSON exports (OTEL_EXPORTER_OTLP_PROTOCOL=
 * http/json) on /v1/traces and /v1/metrics, keeps every request (raw, for "nothing at all was sent"), and
 * decodes spans and metric points for the assertions.
 */
export async function startOtlpReceiver (t: Teardown) {
  const requests: Array<{ path: string, headers: IncomingHttpHeaders, body: string }> = []
  const spans: ReceivedSpan[] = []
  const metrics: ReceivedMetric[] = []
  const server = createServer((req, res) => {
    let body = ''
    req.setEncoding('utf8')
    req.on('data', chunk => { body += chunk })
    req.on('end', () => {
      requests.push({ path: req.url ?? '', headers: req.headers, body })
      if (!String(req.headers['content-type']).startsWith('application/json')) {
        res.statusCode = 415
        return res.end()
      }
      const parsed = JSON.parse(body)
      if (req.url === '/v1/traces') {
        for (const rs of parsed.resourceSpans ?? []) {
          const resource = attributesOf(rs.resource?.attributes)
          for (const ss of rs.scopeSpans ?? []) {
            for (const s of ss.spans ?? []) {
              spans.push({
                traceId: s.traceId,
                spanId: s.spanId,
                parentSpanId: s.parentSpanId ?? '',
                name: s.name,
                kind: s.kind,
                attributes: attributesOf(s.attributes),
                links: (s.links ?? []).map((l: { traceId: string, spanId: string, attributes?: KeyValue[] }) => ({ traceId: l.traceId, spanId: l.spanId, attributes: attributesOf(l.attributes) })),
                status: s.status ?? {},
                resource,
                scope: ss.scope?.name ?? ''
              })
            }
          }
        }
      } else if (req.url === '/v1/metrics') {
        for (const rm of parsed.resourceMetrics ?? []) {
          const resource = attributesOf(rm.resource?.attributes)
          for (const sm of rm.scopeMetrics ?? []) {
            for (const m of sm.metrics ?? []) {
              const data = m.histogram ?? m.sum ?? m.gauge ?? {}
              metrics.push({
                name: m.name,
                unit: m.unit ?? '',
                resource,
                points: (data.dataPoints ?? []).map((p: { attributes?: KeyValue[], count?: string | number, sum?: number, asDouble?: number, asInt?: string | number }) => ({
                  attributes: attributesOf(p.attributes),
                  ...(p.count !== undefined ? { count: Number(p.count) } : {}),
                  ...(p.sum !== undefined ? { sum: p.sum } : {}),
                  ...(p.asDouble !== undefined ? { value: p.asDouble } : p.asInt !== undefined ? { value: Number(p.asInt) } : {})
                }))
              })
            }
          }
        }
      }
      res.setHeader('content-type', 'application/json')
      res.end('{}')
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.closeAllConnections(); return new Promise(resolve => server.close(resolve)) })
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    spans,
    metrics
  }
}
export type OtlpReceiver = Awaited<ReturnType<typeof startOtlpReceiver>>
