import { createHmac, createSign, generateKeyPairSync, type KeyObject } from 'node:crypto'

export const TEST_JWT_SECRET = 'test-secret-that-is-at-least-32-characters-long'

const b64 = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url')

export interface Claims { sub?: unknown, exp?: number, nbf?: number, iat?: number, iss?: string, aud?: string, role?: string, roles?: string[], [k: string]: unknown }

/** Default claims: a user valid for an hour. */
export function claims (sub: string, extra: Claims = {}): Claims {
  const now = Math.floor(Date.now() / 1000)
  return { sub, iat: now, exp: now + 3600, ...extra }
}

export function signHs256 (payload: Claims, secret: string | Buffer = TEST_JWT_SECRET, header: Record<string, unknown> = {}): string {
  const head = b64({ alg: 'HS256', typ: 'JWT', ...header })
  const body = b64(payload)
  const sig = createHmac('sha256', secret).update(`${head}.${body}`).digest('base64url')
  return `${head}.${body}.${sig}`
}

export function signAsymmetric (payload: Claims, key: KeyObject, alg: 'RS256' | 'ES256', kid: string): string {
  const head = b64({ alg, typ: 'JWT', kid })
  const body = b64(payload)
  const signer = createSign('sha256').update(`${head}.${body}`)
  const sig = alg === 'ES256' ? signer.sign({ key, dsaEncoding: 'ieee-p1363' }) : signer.sign(key)
  return `${head}.${body}.${sig.toString('base64url')}`
}

/** An unsigned token: must always be refused. */
export function unsigned (payload: Claims): string {
  return `${b64({ alg: 'none', typ: 'JWT' })}.${b64(payload)}.`
}

export function rsaKeyPair () {
  return generateKeyPairSync('rsa', { modulusLength: 2048 })
}
export function ecKeyPair () {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' })
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` })
export const userToken = (sub: string, extra: Claims = {}) => signHs256(claims(sub, extra))
export const adminToken = (sub = 'admin-1') => signHs256(claims(sub, { role: 'admin' }))
