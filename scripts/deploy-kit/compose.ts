/**
 * compose.yaml, checked as Compose would read it (interpolated, merge keys applied) against the Compose
 * specification's JSON schema (the copy dclint ships, validated with Ajv), then against the Dockerfile
 * and the deployment's own rules: two gateways on Redis with AOF, a simulator profile, nginx in front.
 */
import { existsSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { basename, dirname, join } from 'node:path'
import { Ajv } from 'ajv'
import { parse as parseYaml } from 'yaml'
import { report, section } from './report.ts'

const ROOT = join(import.meta.dirname, '..', '..')

function interpolate (value: string, env: Record<string, string | undefined>, errors: string[]): string {
  return value.replace(/\$\$|\$\{([A-Za-z_]\w*)(?:(:?[-?+])((?:[^{}]|\{[^{}]*\})*))?\}|\$([A-Za-z_]\w*)/g, (whole, name: string | undefined, op: string | undefined, arg: string | undefined, bare: string | undefined) => {
    if (whole === '$$') return '$'
    const key = (name ?? bare)!
    const set = env[key] !== undefined
    const nonEmpty = set && env[key] !== ''
    switch (op) {
      case ':-': return nonEmpty ? env[key]! : interpolate(arg ?? '', env, errors)
      case '-': return set ? env[key]! : interpolate(arg ?? '', env, errors)
      case ':?': if (!nonEmpty) errors.push(`${key}: ${arg}`); return env[key] ?? ''
      case '?': if (!set) errors.push(`${key}: ${arg}`); return env[key] ?? ''
      case ':+': return nonEmpty ? interpolate(arg ?? '', env, errors) : ''
      case '+': return set ? interpolate(arg ?? '', env, errors) : ''
      default: return env[key] ?? ''
    }
  })
}

function interpolateAll (node: unknown, env: Record<string, string | undefined>, errors: string[]): unknown {
  if (typeof node === 'string') return interpolate(node, env, errors)
  if (Array.isArray(node)) return node.map(n => interpolateAll(n, env, errors))
  if (node && typeof node === 'object') return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, interpolateAll(v, env, errors)]))
  return node
}

type ComposeService = {
  build?: { context?: string, target?: string }
  image?: string
  environment?: Record<string, string>
  volumes?: Array<string>
  ports?: Array<string>
  profiles?: string[]
  command?: string[]
  stop_grace_period?: string
  depends_on?: Record<string, { condition?: string, required?: boolean }>
}

export function checkCompose (stageNames: Set<string>, volumes: string[]): void {
  section('compose.yaml')
  const text = readFileSync(join(ROOT, 'compose.yaml'), 'utf8')
  const require = createRequire(import.meta.url)
  const schemaFile = join(dirname(require.resolve('dclint/package.json')), 'schemas', 'compose.schema.json')
  const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false })
  // The schema is draft-07 (Ajv's default) but names it by an address Ajv does not know it by.
  const { $schema: _draft, ...schema } = JSON.parse(readFileSync(schemaFile, 'utf8')) as Record<string, unknown>
  const validate = ajv.compile(schema)
  const raw = parseYaml(text, { merge: true }) as Record<string, unknown>
  // Validated as Compose validates: after interpolation, once without the optional variables and once
  // with the simulator's, and a missing OPENAI_API_KEY must stop it with the message the file gives.
  const errors: string[] = []
  interpolateAll(raw, {}, errors)
  report(errors.some(e => e.startsWith('OPENAI_API_KEY')), 'compose refuses to start without OPENAI_API_KEY, with a message', errors.join('; '))
  for (const env of [{ OPENAI_API_KEY: 'sk-live' }, { OPENAI_API_KEY: 'sk-sim-local', OPENAI_BASE_URL: 'http://simulator:4010/v1' }]) {
    const resolved = interpolateAll(raw, env, []) as Record<string, unknown>
    const valid = validate(resolved)
    report(valid, `valid against the Compose specification schema (${basename(dirname(dirname(schemaFile)))} ${require('dclint/package.json').version}'s copy) with ${Object.keys(env).join(', ')}`,
      ajv.errorsText(validate.errors, { separator: '\n' }))
  }
  const compose = interpolateAll(raw, { OPENAI_API_KEY: 'sk-live' }, []) as { services: Record<string, ComposeService>, volumes?: Record<string, unknown> }
  const services = Object.entries(compose.services)
  const gateways = services.filter(([, s]) => s.build?.target === 'runtime')
  report(gateways.length >= 2, `two gateway instances from the runtime stage (${gateways.map(([n]) => n).join(', ')})`)
  for (const [name, s] of gateways) {
    report(s.environment?.STORE === 'redis' && /^redis:\/\/redis[:/]/.test(s.environment?.REDIS_URL ?? '') && s.depends_on?.redis?.condition === 'service_healthy',
      `${name}: STORE=redis on the redis service, started once Redis is healthy`)
    report(s.environment?.HOST === '0.0.0.0' && !!s.environment?.TRUST_PROXY && s.environment.TRUST_PROXY !== 'false' && !s.ports,
      `${name}: listens on 0.0.0.0, trusts the proxy (TRUST_PROXY=${s.environment?.TRUST_PROXY}), publishes no port of its own`)
    report(volumes.every(v => (s.volumes ?? []).some(m => m.split(':')[1] === v)), `${name}: a volume on the image's ${volumes.join(', ')}`)
    const grace = Number(/^(\d+)s$/.exec(s.stop_grace_period ?? '')?.[1] ?? 10)
    report(grace > 10, `${name}: stop_grace_period (${grace} s) outlasts SHUTDOWN_GRACE_MS (10 s)`)
  }
  const redis = compose.services.redis
  const redisArgs = (redis?.command ?? []).join(' ')
  report(/--appendonly yes/.test(redisArgs) && /--maxmemory-policy noeviction/.test(redisArgs) && (redis?.volumes ?? []).some(v => v.endsWith(':/data')),
    'redis: AOF persistence on a volume, noeviction', redisArgs)
  const simulator = compose.services.simulator
  report(!!simulator?.profiles?.includes('simulator') && simulator.build?.target === 'simulator', 'the simulator is an optional profile built from the simulator stage')
  for (const [name, s] of services) {
    if (s.build?.target) report(stageNames.has(s.build.target), `${name}: build target ${s.build.target} is a Dockerfile stage`)
    for (const mount of s.volumes ?? []) {
      const source = mount.split(':')[0]!
      if (source.startsWith('.')) report(existsSync(join(ROOT, source)), `${name}: mounts ${source}, which exists`)
    }
  }
  report(!!compose.services.nginx?.ports?.length, 'nginx publishes the one port in front')
}
