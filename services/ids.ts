import { randomBytes } from 'node:crypto'

/** Gateway-made ids: a type prefix and 128 random bits, URL-safe. */
export function newId (prefix: string): string {
  return `${prefix}_${randomBytes(16).toString('base64url')}`
}
