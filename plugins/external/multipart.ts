import multipart from '@fastify/multipart'

/**
 * Accepts multipart/form-data (request.isMultipart()) without reading it: the upload routes read the
 * body with services/uploads/spool.ts, which drives the same parser (busboy) itself so it can bound the
 * whole request, which this plugin does not (GHSA-3pm6-wjfr-3v47). Nothing calls request.parts() or
 * request.file(), so the plugin's own limits would bound nothing and none are set.
 * @see https://github.com/fastify/fastify-multipart
 */
export default multipart
