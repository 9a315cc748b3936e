import { createGetCurrentTime } from './get-current-time.ts'
import type { BuiltinTool } from './types.ts'

/** The built-in tools of the gateway. Add yours here (see README.md beside this file). */
export function builtinTools (clock: () => number): BuiltinTool[] {
  return [createGetCurrentTime(clock)]
}
