import { randomBytes } from 'node:crypto'
import { Value } from 'typebox/value'
import {
  AssistantProfileSchema, type AssistantBody, type AssistantCreateBody, type AssistantProfile, type AssistantUpdateBody
} from '../../schemas/assistants.ts'
import { ConfigError } from '../config.ts'
import { invalidArgument, notFound } from '../errors.ts'
import type { Store } from '../store/types.ts'
import type { ToolRegistry } from '../tools/registry.ts'
import type { AgentsFile } from './agents-file.ts'
import { profileProblem } from './profile-rules.ts'
import { profileFromSdk } from './sdk.ts'

export interface ResolvedAssistant {
  profile: AssistantProfile
  version: number
  /** Unix seconds of the last admin change; null for a file profile never edited. */
  updated_at: number | null
  /** Unix seconds the profile was first saved (a file profile: the file's time). */
  created_at: number
}

/** A profile saved by an older gateway lacks fields added since: they take their defaults. */
const withDefaults = (profile: AssistantProfile): AssistantProfile => Value.Default(AssistantProfileSchema, Value.Clone(profile)) as AssistantProfile

/**
 * Assistant profiles: the agents file, overridden by what admins saved in the store (versioned;
 * a deletion is a tombstone, so a file profile can be hidden too). A profile is found by its id or by
 * one of its aliases (the asst_… ids Assistants-era SPAs still send).
 */
export function createAssistantService ({ file, store, tools, clock }: { file: AgentsFile, store: Store, tools: ToolRegistry, clock: () => number }) {
  const fromFile = new Map(file.agents.map(a => [a.id, a]))
  for (const agent of file.agents) {
    const missing = agent.tools.find(name => !tools.has(name))
    if (missing) throw new ConfigError(`Invalid configuration: assistant ${agent.id} uses unknown tool ${missing}`)
  }
  const baseVersion = (id: string) => fromFile.has(id) ? 1 : 0
  const seconds = () => Math.floor(clock() / 1000)

  async function get (id: string): Promise<ResolvedAssistant | null> {
    const stored = await store.getAssistant(id)
    if (stored) {
      if (stored.deleted || !stored.profile) return null
      const profile = withDefaults(stored.profile)
      return { profile, version: stored.version, updated_at: Math.floor(stored.updated_at), created_at: profile.created_at ?? file.created_at }
    }
    const profile = fromFile.get(id)
    return profile ? { profile, version: 1, updated_at: null, created_at: file.created_at } : null
  }

  async function list (): Promise<ResolvedAssistant[]> {
    const stored = new Map((await store.listAssistants()).map(row => [row.id, row]))
    const ids = [...new Set([...fromFile.keys(), ...stored.keys()])].sort()
    const out: ResolvedAssistant[] = []
    for (const id of ids) {
      const row = stored.get(id)
      if (row) {
        if (row.deleted || !row.profile) continue
        const profile = withDefaults(row.profile)
        out.push({ profile, version: row.version, updated_at: Math.floor(row.updated_at), created_at: profile.created_at ?? file.created_at })
      } else {
        out.push({ profile: fromFile.get(id)!, version: 1, updated_at: null, created_at: file.created_at })
      }
    }
    return out
  }

  /** The profile an id or alias names. */
  async function find (idOrAlias: string): Promise<ResolvedAssistant | null> {
    return await get(idOrAlias) ?? (await list()).find(a => a.profile.aliases.includes(idOrAlias)) ?? null
  }

  /** Checks a profile about to be saved: its tools exist, its rules hold, its names are its own. */
  async function check (profile: AssistantProfile): Promise<void> {
    const unknown = profile.tools.find(name => !tools.has(name))
    if (unknown) throw invalidArgument('tools', `names a tool that is not configured: ${unknown}`)
    const problem = profileProblem(profile)
    if (problem) throw invalidArgument(problem.field, problem.message)
    for (const other of await list()) {
      if (other.profile.id === profile.id) continue
      const taken = [profile.id, ...profile.aliases].find(name => name === other.profile.id || other.profile.aliases.includes(name))
      if (taken) throw invalidArgument(taken === profile.id ? 'id' : 'aliases', `${taken} already names the assistant ${other.profile.id}`)
    }
  }

  async function save (profile: AssistantProfile, current: ResolvedAssistant | null): Promise<ResolvedAssistant> {
    await check(profile)
    const createdAt = current?.created_at ?? seconds()
    const stored = await store.putAssistant({ ...profile, created_at: createdAt }, Math.max(baseVersion(profile.id), current?.version ?? 0), seconds())
    return { profile: { ...profile, created_at: createdAt }, version: stored.version, updated_at: Math.floor(stored.updated_at), created_at: createdAt }
  }

  return {
    get,
    list,
    find,

    /** The profile a run names; `field` is what the caller named it with. */
    async require (idOrAlias: string, field = 'assistant_type'): Promise<ResolvedAssistant> {
      const found = await find(idOrAlias)
      if (!found) throw invalidArgument(field, `"${idOrAlias}" is not a configured assistant`)
      return found
    },

    /** PUT /assistants/:id: creates or replaces the whole profile. */
    async put (id: string, body: AssistantBody): Promise<ResolvedAssistant> {
      return save({ id, ...body }, await get(id))
    },

    /** POST /assistants (the SDK's assistants.create): a new profile, its id given or generated. */
    async create (body: AssistantCreateBody): Promise<ResolvedAssistant> {
      const id = body.id ?? `asst_${randomBytes(12).toString('hex')}`
      if (await get(id)) throw invalidArgument('id', `${id} already exists; update it with POST /assistants/${id}`)
      return save(profileFromSdk(id, body, null, tools), null)
    },

    /** POST /assistants/:id (the SDK's assistants.update): what is sent replaces, the rest is kept. */
    async update (id: string, body: AssistantUpdateBody): Promise<ResolvedAssistant> {
      const current = await get(id)
      if (!current) throw notFound('Assistant')
      return save(profileFromSdk(id, body, current.profile, tools), current)
    },

    async delete (id: string): Promise<void> {
      const current = await get(id)
      if (!current) throw notFound('Assistant')
      await store.deleteAssistant(id, current.version, seconds())
    }
  }
}
export type AssistantService = ReturnType<typeof createAssistantService>
