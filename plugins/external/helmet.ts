import { createRequire } from 'node:module'
import type { IncomingMessage, ServerResponse } from 'node:http'
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import type { HelmetOptions } from 'helmet'

// helmet itself, as @fastify/helmet depends on it (the same version the project has always sent).
const helmet = createRequire(import.meta.resolve('@fastify/helmet'))('helmet') as typeof import('helmet').default

/**
 * Security headers. The API serves JSON only, so the CSP is strict; Swagger UI at /docs sets its own
 * CSP for its static files (staticCSP in swagger.ts, written later in onSend, so it wins).
 * @see https://helmetjs.github.io/
 */
export const autoConfig: HelmetOptions = {
  crossOriginResourcePolicy: { policy: 'cross-origin' },
  contentSecurityPolicy: {
    directives: {
      defaultSrc: ["'self'"],
      scriptSrc: ["'self'"],
      styleSrc: ["'self'", 'https:', "'unsafe-inline'"],
      imgSrc: ["'self'", 'data:', 'validator.swagger.io'],
      connectSrc: ["'self'"],
      frameAncestors: ["'none'"]
    }
  }
}

/** The headers helmet sets for `options`: none of them depends on the request, so they are computed once. */
export function securityHeaders (options: HelmetOptions): Record<string, string> {
  const headers: Record<string, string> = {}
  const res = {
    setHeader (name: string, value: string | number) { headers[name.toLowerCase()] = String(value) },
    removeHeader (name: string) { delete headers[name.toLowerCase()] }
  }
  helmet(options)({} as IncomingMessage, res as unknown as ServerResponse, (err?: unknown) => { if (err) throw err })
  return headers
}

/**
 * helmet's headers on every answer. @fastify/helmet builds helmet's middleware — and re-parses the CSP
 * directives — on every request (about 2 % of the CPU of a proxied read); the header values never change,
 * so they are built once here and copied onto each reply.
 */
async function helmetHeaders (fastify: FastifyInstance, options: HelmetOptions) {
  const headers = securityHeaders(options)
  fastify.addHook('onRequest', (_request, reply, done) => {
    reply.headers(headers)
    done()
  })
}

export default fp(helmetHeaders, { name: 'helmet' })
