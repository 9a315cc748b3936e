/**
 * npm run token -- [--demo] [--sub alice] [--admin] [--ttl 3600]
 * Prints a bearer token. Which secret signs it is always said on stderr, and never guessed: `--demo`
 * signs with the demo's secret (a token for `npm run demo`), otherwise JWT_SECRET from the environment
 * or `.env` signs it (a token for a gateway started with that secret), and without one it refuses.
 */
import { parseArgs } from 'node:util'
import { DEMO_JWT_SECRET, mintToken } from './dev-tokens.ts'

const USAGE_LINE = 'usage: npm run token -- [--demo] [--sub <user id>] [--admin] [--ttl <seconds>]   (--help: what they mean)'
const USAGE = `usage: npm run token -- [--demo] [--sub <user id>] [--admin] [--ttl <seconds>]
  --demo         sign with the demo's secret, for npm run demo (otherwise: JWT_SECRET from the environment or .env)
  --sub <id>     the user id, 1-256 characters (default: demo-user)
  --admin        add the admin role (JWT_ADMIN_ROLE, default admin)
  --ttl <s>      lifetime in seconds (default: 86400, 24 h)
  --help         this text
`

function refuse (line: string, code = 1): never {
  process.stderr.write(`${line}\n`)
  process.exit(code)
}

let values
try {
  ({ values } = parseArgs({
    options: {
      demo: { type: 'boolean', default: false },
      sub: { type: 'string', default: 'demo-user' },
      admin: { type: 'boolean', default: false },
      ttl: { type: 'string', default: String(24 * 3600) },
      help: { type: 'boolean', short: 'h', default: false }
    }
  }))
} catch (err) {
  if (!String((err as NodeJS.ErrnoException).code).startsWith('ERR_PARSE_ARGS')) throw err
  refuse(`token: ${(err as Error).message}\n${USAGE_LINE}`, 2)
}
if (values.help) {
  process.stdout.write(USAGE)
  process.exit(0)
}
const ttl = Number(values.ttl)
if (!/^\d+$/.test(values.ttl) || ttl < 1) refuse(`token: --ttl must be a whole number of seconds, at least 1\n${USAGE_LINE}`, 2)
if (!values.sub || values.sub.length > 256) refuse(`token: --sub must be 1-256 characters\n${USAGE_LINE}`, 2)

let secret: string
let issuer: string | undefined
let audience: string | undefined
// The demo reads the shell's environment only (never .env), and so does its admin role.
let adminRole = process.env.JWT_ADMIN_ROLE || 'admin'
if (values.demo) {
  secret = DEMO_JWT_SECRET
  process.stderr.write('Signed with the demo\'s secret (--demo): valid against npm run demo only.\n')
} else {
  const fromEnvironment = Boolean(process.env.JWT_SECRET)
  try {
    process.loadEnvFile() // never overrides what the environment already sets
  } catch {}
  if (!process.env.JWT_SECRET) {
    if (process.env.JWT_JWKS_URL) refuse('token: JWT_JWKS_URL is set: tokens come from your identity provider, not from this script (--demo signs one for npm run demo).')
    refuse('token: no JWT_SECRET in the environment or .env. For npm run demo: npm run token -- --demo')
  }
  secret = process.env.JWT_SECRET
  issuer = process.env.JWT_ISSUER || undefined
  audience = process.env.JWT_AUDIENCE || undefined
  adminRole = process.env.JWT_ADMIN_ROLE || 'admin'
  process.stderr.write(`Signed with JWT_SECRET from ${fromEnvironment ? 'the environment' : '.env'}: valid against a gateway with that secret, not npm run demo (use --demo for it).\n`)
}
process.stdout.write(mintToken(secret, { sub: values.sub, admin: values.admin, adminRole, ttlSeconds: ttl, issuer, audience }) + '\n')
