import {
  BUDGET_SCOPES,
  LEDGER_FIELDS,
  RESERVATION_FIELDS,
  USAGE_AMOUNTS,
  budgetSubject,
  countersOf,
  type BudgetScope,
  type BudgetStore,
  type LedgerRow,
  type Reservation
} from '../budgets.ts'
import { assertReservation, assertUsage } from '../guards.ts'
import { sqliteCodec } from './codec.ts'
import type { SqliteDb } from './db.ts'

const reservations = sqliteCodec('budget_reservations', RESERVATION_FIELDS)
const ledger = sqliteCodec('usage_ledger', LEDGER_FIELDS)
const ADD_TO_LEDGER = `${ledger.insert} ON CONFLICT (day, user, assistant, model) DO UPDATE SET ` +
  USAGE_AMOUNTS.map(f => `${f} = ${f} + excluded.${f}`).join(', ')

/**
 * Budget counters are rows (day, kind = the scope's name, subject) with `used` and `reserved`; open
 * reservations, the usage ids already counted and the ledger have a table each.
 */
export function sqliteBudgets (db: SqliteDb, clock: () => number): BudgetStore {
  function bump (day: string, scope: BudgetScope, subject: string, used: number, reserved: number) {
    db.run('INSERT INTO budget_counters (day, kind, subject, used, reserved) VALUES (?, ?, ?, ?, ?) ' +
      'ON CONFLICT (day, kind, subject) DO UPDATE SET used = used + excluded.used, reserved = reserved + excluded.reserved',
    day, scope.scope, subject, used, reserved)
  }
  function counter (day: string, scope: BudgetScope, subject: string): { used: number, reserved: number } {
    const row = db.get('SELECT used, reserved FROM budget_counters WHERE day = ? AND kind = ? AND subject = ?', day, scope.scope, subject)
    return { used: (row?.used as number) ?? 0, reserved: (row?.reserved as number) ?? 0 }
  }
  function bumpReserved (r: Reservation, sign: 1 | -1) {
    for (const scope of BUDGET_SCOPES) bump(r.day, scope, budgetSubject(scope, r), 0, sign * r[scope.reserves])
  }
  /** Frees an open reservation; returns it, or null when there was none. */
  function releaseReservation (id: string): Reservation | null {
    const row = db.get('SELECT * FROM budget_reservations WHERE id = ?', id)
    if (!row) return null
    const reservation = reservations.row(row)
    db.run('DELETE FROM budget_reservations WHERE id = ?', id)
    bumpReserved(reservation, -1)
    return reservation
  }
  function applyUsage (usage: LedgerRow) {
    for (const scope of BUDGET_SCOPES) bump(usage.day, scope, budgetSubject(scope, usage), usage[scope.uses], 0)
    db.run(ADD_TO_LEDGER, ...ledger.params(usage))
  }
  /** Marks a usage id as counted; false when it already was. */
  const markApplied = (id: string): boolean =>
    db.run('INSERT INTO usage_applied (id, applied_at) VALUES (?, ?) ON CONFLICT (id) DO NOTHING', id, clock()) === 1

  return {
    async reserveBudget (reservation, limits) {
      assertReservation(reservation)
      return db.immediate(() => {
        if (db.get('SELECT 1 FROM budget_reservations WHERE id = ?', reservation.id)) return { ok: true }
        let heldBack: BudgetScope | null = null
        for (const scope of BUDGET_SCOPES) {
          const limit = limits[scope.limit]
          const amount = reservation[scope.reserves]
          // A scope is only charged when the reservation asks for some of it.
          if (limit <= 0 || amount <= 0) continue
          const c = counter(reservation.day, scope, budgetSubject(scope, reservation))
          if (c.used + amount > limit) return { ok: false, scope: scope.scope, blockedBy: 'usage' }
          if (c.used + c.reserved + amount > limit) heldBack ??= scope
        }
        if (heldBack) return { ok: false, scope: heldBack.scope, blockedBy: 'reservations' }
        db.run(reservations.insert, ...reservations.params(reservation))
        bumpReserved(reservation, 1)
        return { ok: true }
      })
    },

    async settleBudget (reservationId, usage) {
      assertUsage(usage)
      return db.immediate(() => {
        const reservation = releaseReservation(reservationId)
        if (!reservation) return false
        // The reservation id is remembered as a usage id: recordUsage(reservationId, …) after a settle is a no-op.
        markApplied(reservationId)
        applyUsage({ ...usage, day: reservation.day })
        return true
      })
    },

    async recordUsage (usageId, usage) {
      assertUsage(usage)
      return db.immediate(() => {
        if (!markApplied(usageId)) return false
        applyUsage(usage)
        return true
      })
    },

    async releaseBudget (reservationId) {
      return db.immediate(() => releaseReservation(reservationId) !== null)
    },

    async releaseExpiredReservations () {
      return db.immediate(() => {
        const expired = db.all('SELECT id FROM budget_reservations WHERE expires_at <= ?', clock())
        for (const row of expired) releaseReservation(row.id as string)
        return expired.length
      })
    },

    async budgetCounters (day, user, assistant) {
      return db.snapshot(() => countersOf(scope => scope.subject === 'assistant' && assistant === undefined
        ? null
        : counter(day, scope, budgetSubject(scope, { user, assistant: assistant ?? '' }))))
    },

    async usageLedger (day, user) {
      const rows = user === undefined
        ? db.all('SELECT * FROM usage_ledger WHERE day = ? ORDER BY user, assistant, model', day)
        : db.all('SELECT * FROM usage_ledger WHERE day = ? AND user = ? ORDER BY assistant, model', day, user)
      return rows.map(ledger.row)
    }
  }
}
