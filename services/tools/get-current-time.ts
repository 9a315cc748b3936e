import type { BuiltinTool } from './types.ts'
import { ToolError } from './registry.ts'

/**
 * The built-in example tool: the current date and time in a time zone. Models do not know "now";
 * this is the smallest useful thing a gateway-side tool can give them.
 */
export function createGetCurrentTime (clock: () => number = Date.now): BuiltinTool {
  return {
    name: 'get_current_time',
    description: 'Current date and time in an IANA time zone, e.g. Europe/Moscow or UTC.',
    parameters: {
      type: 'object',
      properties: { timezone: { type: 'string', minLength: 1, maxLength: 64, description: 'IANA time zone name' } },
      required: ['timezone'],
      additionalProperties: false
    },
    async run (args) {
      const timezone = String(args.timezone)
      const now = new Date(clock())
      let local: string
      try {
        local = new Intl.DateTimeFormat('en-GB', { timeZone: timezone, dateStyle: 'full', timeStyle: 'long' }).format(now)
      } catch {
        throw new ToolError('invalid_arguments', `unknown time zone ${timezone}`)
      }
      return { timezone, iso_utc: now.toISOString(), local }
    }
  }
}
