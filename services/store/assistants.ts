import type { Fields } from './fields.ts'
import type { AssistantProfile } from '../../schemas/assistants.ts'

/** Profiles are what the agents file and admins write: their type is the schema's. */
export type { AssistantProfile } from '../../schemas/assistants.ts'

export interface StoredAssistant {
  profile: AssistantProfile | null
  /** A tombstone (profile null, deleted true) hides a profile that comes from the agents file. */
  deleted: boolean
  version: number
  /** Unix seconds. */
  updated_at: number
}

export const STORED_ASSISTANT_FIELDS: Fields<StoredAssistant> = {
  profile: 'json',
  deleted: 'bool',
  version: 'value',
  updated_at: 'value'
}

export interface AssistantStore {
  getAssistant (id: string): Promise<StoredAssistant | null>
  listAssistants (): Promise<Array<StoredAssistant & { id: string }>>
  /** Saves the profile with version = max(stored version, baseVersion) + 1; returns the stored row. */
  putAssistant (profile: AssistantProfile, baseVersion: number, now: number): Promise<StoredAssistant>
  /** Writes a tombstone with the next version. */
  deleteAssistant (id: string, baseVersion: number, now: number): Promise<StoredAssistant>
}
