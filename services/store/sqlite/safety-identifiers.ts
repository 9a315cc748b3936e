import type { SafetyIdentifierStore } from '../safety-identifiers.ts'
import type { SqliteDb } from './db.ts'

export function sqliteSafetyIdentifiers (db: SqliteDb, clock: () => number): SafetyIdentifierStore {
  return {
    async indexSafetyIdentifier (identifier, user) {
      db.run('INSERT INTO safety_identifiers (identifier, user, created_at) VALUES (?, ?, ?) ON CONFLICT (identifier) DO NOTHING', identifier, user, clock())
    },
    async userOfSafetyIdentifier (identifier) {
      return (db.get('SELECT user FROM safety_identifiers WHERE identifier = ?', identifier)?.user as string | undefined) ?? null
    }
  }
}
