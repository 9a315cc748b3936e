import helmet from '@fastify/helmet'

/**
 * Security headers. The API serves JSON only, so the CSP is strict; Swagger UI at /docs sets its own
 * CSP for its static files (staticCSP in swagger.ts).
 * @see https://github.com/fastify/fastify-helmet
 */
export const autoConfig = {
  global: true,
  crossOriginResourcePolicy: { policy: 'cross-origin' as const },
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

export default helmet
