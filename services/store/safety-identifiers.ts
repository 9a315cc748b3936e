/**
 * The reverse of the safety identifiers the gateway sends upstream (a keyed hash of the user id cannot be
 * inverted): written when an identifier is first used, read when OpenAI names one in a safety notice.
 */
export interface SafetyIdentifierStore {
  /** Remembers that `identifier` stands for `user`; the first user written for an identifier stays. */
  indexSafetyIdentifier (identifier: string, user: string): Promise<void>
  userOfSafetyIdentifier (identifier: string): Promise<string | null>
}
