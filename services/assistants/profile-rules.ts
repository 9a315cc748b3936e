import type { AssistantProfile } from '../../schemas/assistants.ts'

/**
 * What a profile must satisfy beyond its schema, wherever it comes from (the agents file, an admin):
 * the first problem, naming the field, or null.
 */
export function profileProblem (profile: Pick<AssistantProfile, 'max_output_tokens' | 'daily_token_cap' | 'tools' | 'client_tools'>): { field: string, message: string } | null {
  // A cap below one answer's worth refuses every run as "used up" while nothing was used.
  if (profile.daily_token_cap > 0 && profile.daily_token_cap < profile.max_output_tokens) {
    return { field: 'daily_token_cap', message: `must be 0 (none) or at least max_output_tokens (${profile.max_output_tokens})` }
  }
  const names = new Set<string>(profile.tools)
  for (const tool of profile.client_tools) {
    if (names.has(tool.name)) return { field: 'client_tools', message: `name the function ${tool.name} twice (a client tool cannot share a server tool's name)` }
    names.add(tool.name)
  }
  return null
}
