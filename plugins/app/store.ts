import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { openStore, type Store } from '../../services/store/index.ts'
import type { AppOptions } from '../../app.ts'

declare module 'fastify' {
  interface FastifyInstance { store: Store }
}

/** The store is opened (and migrated) during boot, so a bad path or URL fails start-up, and closed last. */
async function store (fastify: FastifyInstance, opts: AppOptions) {
  if (opts.store) {
    fastify.decorate('store', opts.store)
    return
  }
  const instance = await openStore(fastify.config, fastify.clock, fastify.log)
  fastify.decorate('store', instance)
  fastify.addHook('onClose', async () => { await instance.close() })
}

export default fp(store, { name: 'store' })
