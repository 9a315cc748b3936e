import { join } from 'node:path'
import { AgentsFileSchema, type AssistantBody, type WebhookTool } from '../schemas/assistants.ts'
import { ConfigError, loadJsonFile } from './config.ts'
import { invalidArgument, notFound } from './errors.ts'
import type { AssistantProfile, Store } from './store/types.ts'
import type { ToolRegistry } from './tools/registry.ts'

export const BUNDLED_AGENTS_FILE = join(import.meta.dirname, '..', 'config', 'agents.json')

export interface AgentsFile { agents: AssistantProfile[], tools: WebhookTool[] }

/** Reads and validates the agents file; a problem stops start-up with one line naming the file and field. */
export function loadAgentsFile (path = BUNDLED_AGENTS_FILE): AgentsFile {
  const file = loadJsonFile<AgentsFile>('AGENTS_FILE', path, AgentsFileSchema)
  const ids = new Set<string>()
  for (const agent of file.agents) {
    if (ids.has(agent.id)) throw new ConfigError(`Invalid configuration: AGENTS_FILE ${path}: agent ${agent.id} is defined twice`)
    ids.add(agent.id)
  }
  return file
}

export interface ResolvedAssistant {
  profile: AssistantProfile
  version: number
  /** Unix seconds of the last admin change; null for a file profile never edited. */
  updated_at: number | null
}

/**
 * Assistant profiles: the agents file, overridden by what admins saved in the store (versioned;
 * a deletion is a tombstone, so a file profile can be hidden too).
 */
export function createAssistantService ({ file, store, tools, clock }: { file: AgentsFile, store: Store, tools: ToolRegistry, clock: () => number }) {
  const fromFile = new Map(file.agents.map(a => [a.id, a]))
  for (const agent of file.agents) {
    const missing = agent.tools.find(name => !tools.has(name))
    if (missing) throw new ConfigError(`Invalid configuration: assistant ${agent.id} uses unknown tool ${missing}`)
  }
  const baseVersion = (id: string) => fromFile.has(id) ? 1 : 0

  async function get (id: string): Promise<ResolvedAssistant | null> {
    const stored = await store.getAssistant(id)
    if (stored) return stored.deleted || !stored.profile ? null : { profile: stored.profile, version: stored.version, updated_at: Math.floor(stored.updated_at) }
    const profile = fromFile.get(id)
    return profile ? { profile, version: 1, updated_at: null } : null
  }

  return {
    get,
    async require (id: string): Promise<ResolvedAssistant> {
      const found = await get(id)
      if (!found) throw invalidArgument('assistant_type', `"${id}" is not a configured assistant`)
      return found
    },
    async list (): Promise<ResolvedAssistant[]> {
      const stored = new Map((await store.listAssistants()).map(row => [row.id, row]))
      const ids = [...new Set([...fromFile.keys(), ...stored.keys()])].sort()
      const out: ResolvedAssistant[] = []
      for (const id of ids) {
        const row = stored.get(id)
        if (row) {
          if (!row.deleted && row.profile) out.push({ profile: row.profile, version: row.version, updated_at: Math.floor(row.updated_at) })
        } else {
          out.push({ profile: fromFile.get(id)!, version: 1, updated_at: null })
        }
      }
      return out
    },
    async put (id: string, body: AssistantBody): Promise<ResolvedAssistant> {
      const unknown = body.tools.find(name => !tools.has(name))
      if (unknown) throw invalidArgument('tools', `names a tool that is not configured: ${unknown}`)
      const profile: AssistantProfile = { id, ...body }
      const current = await store.getAssistant(id)
      const stored = await store.putAssistant(profile, Math.max(baseVersion(id), current?.version ?? 0), Math.floor(clock() / 1000))
      return { profile, version: stored.version, updated_at: Math.floor(stored.updated_at) }
    },
    async delete (id: string): Promise<void> {
      const current = await get(id)
      if (!current) throw notFound('Assistant')
      await store.deleteAssistant(id, current.version, Math.floor(clock() / 1000))
    }
  }
}
export type AssistantService = ReturnType<typeof createAssistantService>
