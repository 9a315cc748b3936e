import { createHmac } from 'node:crypto'
import type { Config } from '../config.ts'
import type { Store } from '../store/types.ts'

/** Users whose identifier this process has indexed already (a bounded set: forgetting one costs one idempotent write). */
const MAX_REMEMBERED = 50_000

/** The key identifiers are hashed with: SAFETY_IDENTIFIER_KEY, else one derived like the owner hash's salt. */
export function safetyIdentifierKey (config: Pick<Config, 'SAFETY_IDENTIFIER_KEY' | 'OWNER_HASH_SALT' | 'OPENAI_API_KEY'>): string {
  return config.SAFETY_IDENTIFIER_KEY ??
    createHmac('sha256', config.OWNER_HASH_SALT ?? config.OPENAI_API_KEY).update('assistant-gateway safety identifier').digest('hex')
}

/**
 * What OpenAI is told about an end user: `sid_` and the base64url HMAC-SHA256 of the user id (47
 * characters, within the API's 64). Stable for a key, never the id itself, not invertible without the key.
 */
export function safetyIdentifierOf (key: string, userId: string): string {
  return `sid_${createHmac('sha256', key).update(userId).digest('base64url')}`
}

/**
 * The per-user identity sent upstream, and its way back: every identifier is written to the store's
 * reverse index before its first use, so a safety notice naming it can be mapped to the user.
 */
export function createUserIdentities ({ config, store }: { config: Config, store: Store }) {
  const key = safetyIdentifierKey(config)
  const indexed = new Set<string>()
  return {
    /** The user's safety identifier, indexed in the store (once per process and user). */
    async safetyIdentifier (userId: string): Promise<string> {
      const identifier = safetyIdentifierOf(key, userId)
      if (!indexed.has(userId)) {
        await store.indexSafetyIdentifier(identifier, userId)
        if (indexed.size >= MAX_REMEMBERED) indexed.clear()
        indexed.add(userId)
      }
      return identifier
    },
    /** The user a safety identifier stands for, when the gateway issued it. */
    async userOf (identifier: string): Promise<string | null> {
      return store.userOfSafetyIdentifier(identifier)
    }
  }
}
export type UserIdentities = ReturnType<typeof createUserIdentities>
