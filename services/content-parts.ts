import type { FastifyRequest } from 'fastify'
import { invalidArgument, type GatewayError } from './errors.ts'

/** The part types a message's content may hold (schemas/threads.ts MessageContentSchema). */
const SUPPORTED = new Set(['text', 'image_file'])

/** What to send instead of a part type OpenAI's APIs take and the gateway does not. */
const INSTEAD: Record<string, string> = {
  image_url: 'the gateway does not fetch images from URLs; upload the image (POST /files, purpose vision) and send an image_file part with its file_id'
}
const OTHERWISE = 'a message\'s content parts are text, and image_file (an image uploaded with POST /files)'

/** A type worth naming back to the caller: short and plain, so the message cannot carry anything else. */
const NAMEABLE = /^[a-z][a-z0-9_.]{0,63}$/

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value)

/** The content arrays under `where` ("content", "messages", "thread.messages": a list of messages). */
function contentsAt (body: unknown, where: string): Array<[string, unknown[]]> {
  const path = where.split('.')
  let value: unknown = body
  for (const key of path) value = isObject(value) ? value[key] : undefined
  if (path.at(-1) === 'content') return Array.isArray(value) ? [[where, value]] : []
  if (!Array.isArray(value)) return []
  return value.flatMap((message, i): Array<[string, unknown[]]> =>
    isObject(message) && Array.isArray(message.content) ? [[`${where}.${i}.content`, message.content]] : [])
}

/**
 * The first content part whose type the gateway does not take, as a 400 naming it ("content.1.type image_url is
 * not supported: …"), or null. Run before schema validation: the schema alone can only say that content "must be
 * string", the first of its alternatives, which sends a caller looking in the wrong place.
 */
export function unsupportedContentPart (body: unknown, where: string[]): GatewayError | null {
  for (const place of where) {
    for (const [param, parts] of contentsAt(body, place)) {
      for (const [j, part] of parts.entries()) {
        const type = isObject(part) ? part.type : undefined
        if (typeof type !== 'string' || SUPPORTED.has(type) || !NAMEABLE.test(type)) continue
        return invalidArgument(`${param}.${j}.type`, `${type} is not supported: ${INSTEAD[type] ?? OTHERWISE}`)
      }
    }
  }
  return null
}

/** A preValidation hook for a route whose body carries messages at `where`. */
export function refuseUnsupportedParts (...where: string[]) {
  return async (request: FastifyRequest): Promise<void> => {
    const refusal = unsupportedContentPart(request.body, where)
    if (refusal) throw refusal
  }
}
