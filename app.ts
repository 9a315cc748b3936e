import { join } from 'node:path'
import autoload from '@fastify/autoload'
import type { FastifyInstance } from 'fastify'
import type { Config } from './services/config.ts'
import type { Store } from './services/store/types.ts'

declare module 'fastify' {
  interface FastifyInstance {
    config: Config
    /** Unix ms; injectable so tests can move time (budget days, leases). */
    clock: () => number
  }
}

export interface AppOptions {
  config: Config
  clock?: () => number
  /** An already-open store (tests share one between instances); default: opened from config. */
  store?: Store
}

/**
 * The whole gateway as one plugin: third-party plugins, then the app's services as decorators, then
 * the routes (folders give prefixes; autohooks guard the /api tree). It only registers things (plus
 * the request-id hook, which must come first); server.ts owns the process.
 */
export default async function app (fastify: FastifyInstance, opts: AppOptions) {
  fastify.decorate('config', opts.config)
  fastify.decorate('clock', opts.clock ?? Date.now)
  // Every answer carries the request id, the caller's own when it sent a sane one (see server.ts). Added
  // before any plugin so it is also on answers a plugin's onRequest hook ends early (CORS preflights).
  fastify.addHook('onRequest', async (request, reply) => { reply.header('x-request-id', request.id) })
  await fastify.register(autoload, { dir: join(import.meta.dirname, 'plugins/external'), options: opts })
  await fastify.register(autoload, { dir: join(import.meta.dirname, 'plugins/app'), options: opts })
  await fastify.register(autoload, {
    dir: join(import.meta.dirname, 'routes'),
    autoHooks: true,
    cascadeHooks: true,
    ignorePattern: /(^|\/)README\.md$/,
    options: opts
  })
}
