/**
 * npm run token -- --sub alice [--admin] [--ttl 3600]
 * Prints a bearer token signed with the configured JWT_SECRET (environment or .env), or with the
 * demo's secret when none is configured, so it works against `npm run demo`.
 */
import { parseArgs } from 'node:util'
import { DEMO_JWT_SECRET, mintToken } from './dev-tokens.ts'

const { values } = parseArgs({
  options: {
    sub: { type: 'string', default: 'demo-user' },
    admin: { type: 'boolean', default: false },
    ttl: { type: 'string', default: String(24 * 3600) }
  }
})

try {
  process.loadEnvFile()
} catch {}

if (process.env.JWT_JWKS_URL && !process.env.JWT_SECRET) {
  process.stderr.write('JWT_JWKS_URL is set: tokens come from your identity provider, not from this script.\n')
  process.exit(1)
}
const ttl = Number(values.ttl)
if (!Number.isInteger(ttl) || ttl < 1 || !values.sub || values.sub.length > 256) {
  process.stderr.write('usage: npm run token -- --sub <user id (1-256 chars)> [--admin] [--ttl <seconds>]\n')
  process.exit(1)
}
const secret = process.env.JWT_SECRET || DEMO_JWT_SECRET
if (!process.env.JWT_SECRET) process.stderr.write('No JWT_SECRET configured: signing with the demo secret (valid against npm run demo only).\n')
process.stdout.write(mintToken(secret, {
  sub: values.sub,
  admin: values.admin,
  adminRole: process.env.JWT_ADMIN_ROLE || 'admin',
  ttlSeconds: ttl,
  issuer: process.env.JWT_ISSUER || undefined,
  audience: process.env.JWT_AUDIENCE || undefined
}) + '\n')
