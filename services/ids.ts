import { randomBytes } from 'node:crypto'

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'
/** 128 bits in base 62 take at most 22 digits. */
const DIGITS = 22

/**
 * Gateway-made ids: a type prefix and 128 random bits in letters and digits only, as OpenAI's own were —
 * client code written for the Assistants API finds a run's id in an error message with /run_\w+/ or
 * /run_[a-zA-Z0-9]+/, which a `-` would cut short.
 */
export function newId (prefix: string): string {
  let n = BigInt(`0x${randomBytes(16).toString('hex')}`)
  let digits = ''
  for (let i = 0; i < DIGITS; i++) {
    digits = ALPHABET[Number(n % 62n)]! + digits
    n /= 62n
  }
  return `${prefix}_${digits}`
}
