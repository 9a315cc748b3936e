import { USAGE_AMOUNTS, type LedgerRow, type Reservation } from './budgets.ts'

/** Checks both backends make before writing: a bad amount or page size is a caller's bug, thrown as RangeError. */

export function assertAmount (name: string, value: number) {
  if (!Number.isFinite(value) || value < 0) throw new RangeError(`${name} must be a finite number >= 0, got ${value}`)
}

export function assertLimit (limit: number) {
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`page limit must be a positive integer, got ${limit}`)
}

export function assertReservation (reservation: Reservation) {
  assertAmount('reservation.tokens', reservation.tokens)
  assertAmount('reservation.audio_seconds', reservation.audio_seconds)
}

export function assertUsage (usage: LedgerRow) {
  for (const field of USAGE_AMOUNTS) assertAmount(`usage.${field}`, usage[field])
}
