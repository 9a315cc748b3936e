import { createHmac } from 'node:crypto'

/** The demo's HS256 secret. It only ever signs tokens for the local demo; never use it elsewhere. */
export const DEMO_JWT_SECRET = 'demo-only-secret-do-not-use-in-production-0123456789'

export interface TokenRequest {
  sub: string
  admin?: boolean
  adminRole?: string
  ttlSeconds?: number
  issuer?: string
  audience?: string
}

/** Mints an HS256 JWT the way an identity provider would, for development and the demo. */
export function mintToken (secret: string, request: TokenRequest): string {
  const now = Math.floor(Date.now() / 1000)
  const payload = {
    sub: request.sub,
    iat: now,
    exp: now + (request.ttlSeconds ?? 24 * 3600),
    ...(request.admin ? { role: request.adminRole ?? 'admin' } : {}),
    ...(request.issuer ? { iss: request.issuer } : {}),
    ...(request.audience ? { aud: request.audience } : {})
  }
  const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url')
  const unsigned = `${encode({ alg: 'HS256', typ: 'JWT' })}.${encode(payload)}`
  return `${unsigned}.${createHmac('sha256', secret).update(unsigned).digest('base64url')}`
}
