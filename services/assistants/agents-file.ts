import { statSync } from 'node:fs'
import { join } from 'node:path'
import { AgentsFileSchema, type AssistantProfile, type WebhookTool } from '../../schemas/assistants.ts'
import { ConfigError, loadJsonFile } from '../config.ts'
import { profileProblem } from './profile-rules.ts'

export const BUNDLED_AGENTS_FILE = join(import.meta.dirname, '..', '..', 'config', 'agents.json')

export interface AgentsFile {
  agents: AssistantProfile[]
  tools: WebhookTool[]
  /** Unix seconds: the file's modification time, the created_at of its profiles. */
  created_at: number
}

/** Reads and validates the agents file; a problem stops start-up with one line naming the file and field. */
export function loadAgentsFile (path = BUNDLED_AGENTS_FILE): AgentsFile {
  const file = loadJsonFile<Omit<AgentsFile, 'created_at'>>('AGENTS_FILE', path, AgentsFileSchema)
  const names = new Map<string, string>()
  for (const agent of file.agents) {
    for (const name of [agent.id, ...agent.aliases]) {
      const owner = names.get(name)
      if (owner) throw new ConfigError(`Invalid configuration: AGENTS_FILE ${path}: ${name} names both ${owner} and ${agent.id}`)
      names.set(name, agent.id)
    }
    const problem = profileProblem(agent)
    if (problem) throw new ConfigError(`Invalid configuration: AGENTS_FILE ${path}: agent ${agent.id}: ${problem.field} ${problem.message}`)
  }
  return { ...file, created_at: Math.floor(statSync(path).mtimeMs / 1000) }
}
