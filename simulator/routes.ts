/**
 * Every route the simulator serves: OpenAI's path template (with the spec's parameter names) and
 * its OpenAPI operation. The keys name routes in counters and fault rules. A route newer than the
 * shipped openapi.json has operationId null: it is neither validated nor recorded as nonconforming.
 */
export const ROUTES = [
  { key: 'POST /v1/conversations', operationId: 'createConversation' },
  { key: 'GET /v1/conversations/{conversation_id}', operationId: 'getConversation' },
  { key: 'POST /v1/conversations/{conversation_id}', operationId: 'updateConversation' },
  { key: 'DELETE /v1/conversations/{conversation_id}', operationId: 'deleteConversation' },
  { key: 'POST /v1/conversations/{conversation_id}/items', operationId: 'createConversationItems' },
  { key: 'GET /v1/conversations/{conversation_id}/items', operationId: 'listConversationItems' },
  { key: 'GET /v1/conversations/{conversation_id}/items/{item_id}', operationId: 'getConversationItem' },
  { key: 'DELETE /v1/conversations/{conversation_id}/items/{item_id}', operationId: 'deleteConversationItem' },
  { key: 'POST /v1/responses', operationId: 'createResponse' },
  { key: 'GET /v1/responses/{response_id}', operationId: 'getResponse' },
  { key: 'DELETE /v1/responses/{response_id}', operationId: 'deleteResponse' },
  { key: 'POST /v1/responses/{response_id}/cancel', operationId: 'cancelResponse' },
  { key: 'GET /v1/responses/{response_id}/input_items', operationId: 'listInputItems' },
  { key: 'POST /v1/audio/transcriptions', operationId: 'createTranscription' },
  { key: 'POST /v1/files', operationId: 'createFile' },
  { key: 'GET /v1/files', operationId: 'listFiles' },
  { key: 'GET /v1/files/{file_id}', operationId: 'retrieveFile' },
  { key: 'DELETE /v1/files/{file_id}', operationId: 'deleteFile' },
  // Safety enforcement (UPSTREAM.md §13) is newer than the spec: the SDK 7.57 has it, openapi.json does not.
  { key: 'GET /v1/safety/cases/{case_id}', operationId: null }
] as const

export type RouteKey = typeof ROUTES[number]['key']
export type RouteDef = typeof ROUTES[number]

type ShortId<K extends string> =
  K extends `${infer A}{conversation_id}${infer B}` ? `${A}{id}${B}`
    : K extends `${infer A}{response_id}${infer B}` ? `${A}{id}${B}`
      : K extends `${infer A}{file_id}${infer B}` ? `${A}{id}${B}`
        : K extends `${infer A}{case_id}${infer B}` ? `${A}{id}${B}`
          : K

/** The same route with its main resource id written `{id}`, e.g. `GET /v1/responses/{id}`. */
export type RouteAlias = ShortId<RouteKey>

export const ROUTE_KEYS: readonly string[] = ROUTES.map((r) => r.key)

const ALIASES = new Map<string, RouteKey>(ROUTES.map((r) => [shortId(r.key), r.key]))

function shortId (key: string): string {
  return key.replace(/\{(conversation_id|response_id|file_id|case_id)\}/, '{id}')
}

/** The canonical key of a route written either way, or null. */
export function canonicalRoute (route: string): RouteKey | null {
  if ((ROUTE_KEYS as string[]).includes(route)) return route as RouteKey
  return ALIASES.get(route) ?? null
}

interface CompiledRoute {
  def: RouteDef
  segments: string[]
  names: string[]
}

export interface RouteMatch {
  def: RouteDef
  /** Path parameter values keyed by the operation's parameter names. */
  params: Record<string, string>
}

/** Matches `METHOD /path` against the table: routes are few, so a bucket by method and depth suffices. */
export function createRouter (): (method: string, path: string) => RouteMatch | null {
  const buckets = new Map<string, CompiledRoute[]>()
  for (const def of ROUTES) {
    const [method, template] = def.key.split(' ')
    const segments = template.split('/').slice(1)
    const names = segments.filter((s) => s.startsWith('{')).map((s) => s.slice(1, -1))
    const bucket = `${method} ${segments.length}`
    if (!buckets.has(bucket)) buckets.set(bucket, [])
    buckets.get(bucket)?.push({ def, segments, names })
  }
  return (method, path) => {
    const parts = path.split('/').slice(1)
    for (const route of buckets.get(`${method} ${parts.length}`) ?? []) {
      const match = matchSegments(route, parts)
      if (match) return match
    }
    return null
  }
}

function matchSegments (route: CompiledRoute, parts: string[]): RouteMatch | null {
  const params: Record<string, string> = {}
  let p = 0
  for (let i = 0; i < parts.length; i++) {
    const segment = route.segments[i]
    if (segment.charCodeAt(0) === 123 /* { */) {
      if (parts[i] === '') return null
      params[route.names[p++]] = decodeSegment(parts[i])
    } else if (segment !== parts[i]) {
      return null
    }
  }
  return { def: route.def, params }
}

function decodeSegment (segment: string): string {
  if (!segment.includes('%')) return segment
  try {
    return decodeURIComponent(segment)
  } catch {
    return segment
  }
}
