import type { MediaType } from './media-types.ts'

export const FILENAME_MAX_CHARS = 128
const BASE_MAX_CHARS = FILENAME_MAX_CHARS - 12

// Controls, characters that mean something to shells, paths or Content-Disposition, and the bidi
// overrides that make "gpj.exe" read as "exe.jpg".
const UNSAFE = /[\u0000-\u001F\u007F-\u009F"*/:<>?\\|\u2028\u2029\u202A-\u202E\u2066-\u2069\uFEFF]/g // eslint-disable-line no-control-regex

/**
 * The name shown to the user and sent upstream: the client's base name, cleaned and bounded, with the
 * extension of the format the bytes were identified as. It is display text only: spool files get
 * random names in a private directory, never this.
 */
export function displayFilename (given: string | undefined, type: MediaType): string {
  const last = (given ?? '').split(/[\\/]/).pop() ?? ''
  const clean = last.normalize('NFC').replace(UNSAFE, '').replace(/\s+/g, ' ').trim().replace(/^[.\s]+/, '')
  const dot = clean.lastIndexOf('.')
  const givenExt = dot > 0 ? clean.slice(dot + 1).toLowerCase() : ''
  const keepsExt = givenExt === type.ext || type.aliases.includes(givenExt)
  let base = (dot > 0 && keepsExt ? clean.slice(0, dot) : clean).replace(/[.\s]+$/, '')
  // Bounded in code points, so a surrogate pair is never cut in half.
  const chars = Array.from(base)
  if (chars.length > BASE_MAX_CHARS) base = chars.slice(0, BASE_MAX_CHARS).join('').trimEnd()
  return `${base || 'upload'}.${keepsExt ? givenExt : type.ext}`
}
