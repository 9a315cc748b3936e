import fp from 'fastify-plugin'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance } from 'fastify'
import pkg from '../../package.json' with { type: 'json' }

/**
 * OpenAPI document at /docs/json and Swagger UI at /docs. Every route appears in the document, and a
 * test checks each one is fully described (tags, operationId, summary, a schema per status).
 * @see https://github.com/fastify/fastify-swagger
 */
async function swaggerPlugin (fastify: FastifyInstance) {
  await fastify.register(swagger, {
    // Every route of ours is tagged (a test checks); Swagger UI hides its own routes itself.
    hideUntagged: false,
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'assistant-gateway',
        description: 'Threads, messages, runs, uploads and usage for a browser SPA, on the OpenAI Responses + Conversations APIs. ' +
          'Every /api/openai route needs a bearer JWT; use the Authorize button with a token from `npm run token`.',
        version: pkg.version
      },
      components: {
        securitySchemes: {
          bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' }
        }
      },
      security: [{ bearerAuth: [] }],
      tags: [
        { name: 'Threads', description: 'Conversations owned by the caller' },
        { name: 'Messages', description: 'User and assistant messages of a thread' },
        { name: 'Runs', description: 'One chat turn: background responses driven to completion by the gateway' },
        { name: 'Assistants', description: 'Agent profiles configured in the gateway' },
        { name: 'Audio', description: 'Voice transcription' },
        { name: 'Files', description: 'Files to attach to messages' },
        { name: 'Usage', description: 'Token and audio budgets' },
        { name: 'Users and audit', description: 'Suspension, OpenAI safety notices and the hash-chained audit trail (admin)' },
        { name: 'Operations', description: 'Health, metrics and OpenAI webhooks (no bearer token)' }
      ]
    }
  })
  await fastify.register(swaggerUi, {
    routePrefix: '/docs',
    // swagger-ui's own staticCSP (true) minus upgrade-insecure-requests, which leaves the page blank when
    // the gateway is served over plain HTTP on any host but loopback; the style hash admits the <style>
    // of Swagger's logo SVG, shown until @fastify/swagger-ui swaps in its own. test/e2e/swagger-ui.e2e.ts checks both.
    staticCSP: {
      'default-src': ["'self'"],
      'base-uri': ["'self'"],
      'font-src': ["'self'", 'https:', 'data:'],
      'frame-ancestors': ["'self'"],
      'img-src': ["'self'", 'data:', 'validator.swagger.io'],
      'object-src': ["'none'"],
      'script-src': ["'self'"],
      'script-src-attr': ["'none'"],
      'style-src': ["'self'", 'https:', "'sha256-RL3ie0nH+Lzz2YNqQN83mnU0J1ot4QL7b99vMdIX99w='"]
    },
    uiConfig: { persistAuthorization: true, displayRequestDuration: true, tryItOutEnabled: true }
  })
}

export default fp(swaggerPlugin, { name: 'swagger' })
