import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { API_ERRORS, errorResponses } from '../../../../schemas/common.ts'
import { UsageReportQuerySchema, UsageReportSchema } from '../../../../schemas/usage.ts'
import { usageReport } from '../../../../services/budget-service.ts'
import { ValidationFailed } from '../../../../services/errors.ts'

const plugin: FastifyPluginAsyncTypebox = async (fastify) => {
  const { store, config, budgets } = fastify

  fastify.get('/usage', {
    schema: {
      tags: ['Usage'],
      operationId: 'getUsageReport',
      summary: 'Per-user and total usage of a day with estimated cost (admin)',
      querystring: UsageReportQuerySchema,
      response: { 200: UsageReportSchema, ...errorResponses(...API_ERRORS, 403) }
    }
  }, async function (request) {
    const date = request.query.date ?? budgets.today().day
    if (Number.isNaN(Date.parse(`${date}T00:00:00Z`))) throw new ValidationFailed('querystring.date must be a real date (YYYY-MM-DD)')
    return usageReport(store, config, budgets.prices, date)
  })
}

export default plugin
