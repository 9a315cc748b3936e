import type { Fields } from './fields.ts'

export interface AssistantProfile {
  id: string
  name: string
  description: string
  model: string
  instructions: string
  tools: string[]
  temperature: number | null
  top_p: number | null
  /** Whether the model accepts temperature/top_p (reasoning models reject them). */
  accepts_sampling: boolean
  max_output_tokens: number
  /** Optional daily token cap for this assistant across all users; 0 = none. */
  daily_token_cap: number
}

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
