/**
 * What the gateway accepts, identified from the bytes (see sniff.ts). `ext` is the extension the
 * upstream sees: OpenAI picks the decoder from it, so it always names the identified format, never
 * the one the client claimed. `aliases` are other extensions of the same format that may be kept.
 */
export interface MediaType {
  kind: MediaKind
  mime: string
  ext: string
  aliases: readonly string[]
}

export type AudioKind = 'flac' | 'mp3' | 'mpga' | 'm4a' | 'mp4' | 'ogg' | 'wav' | 'webm'
export type BinaryFileKind = 'pdf' | 'png' | 'jpeg' | 'webp' | 'gif'
export type TextKind = 'text' | 'markdown' | 'csv' | 'json'
export type MediaKind = AudioKind | BinaryFileKind | TextKind

const media = (kind: MediaKind, mime: string, ext: string, aliases: string[] = []): MediaType => ({ kind, mime, ext, aliases })

export const MEDIA_TYPES: Readonly<Record<MediaKind, MediaType>> = {
  // The audio extensions are the ones OpenAI's transcription endpoint lists.
  flac: media('flac', 'audio/flac', 'flac'),
  mp3: media('mp3', 'audio/mpeg', 'mp3'),
  mpga: media('mpga', 'audio/mpeg', 'mpga', ['mpeg']),
  m4a: media('m4a', 'audio/mp4', 'm4a', ['mp4']),
  mp4: media('mp4', 'audio/mp4', 'mp4', ['m4a']),
  ogg: media('ogg', 'audio/ogg', 'ogg'),
  wav: media('wav', 'audio/wav', 'wav'),
  webm: media('webm', 'audio/webm', 'webm'),
  pdf: media('pdf', 'application/pdf', 'pdf'),
  png: media('png', 'image/png', 'png'),
  jpeg: media('jpeg', 'image/jpeg', 'jpg', ['jpeg']),
  webp: media('webp', 'image/webp', 'webp'),
  gif: media('gif', 'image/gif', 'gif'),
  text: media('text', 'text/plain', 'txt'),
  markdown: media('markdown', 'text/markdown', 'md', ['markdown']),
  csv: media('csv', 'text/csv', 'csv'),
  json: media('json', 'application/json', 'json')
}

export const AUDIO_KINDS: readonly AudioKind[] = ['flac', 'mp3', 'mpga', 'm4a', 'mp4', 'ogg', 'wav', 'webm']
export const FILE_KINDS: readonly MediaKind[] = ['pdf', 'png', 'jpeg', 'webp', 'gif', 'text', 'markdown', 'csv', 'json']

/**
 * Text has no magic number, so which text it is comes from the declared extension or type; the bytes
 * still decide that it is text at all (and JSON must parse).
 */
export function textKindFor (filename: string | undefined, declaredType: string | undefined): TextKind {
  const ext = /\.([A-Za-z0-9]{1,10})$/.exec(filename ?? '')?.[1]?.toLowerCase()
  const type = (declaredType ?? '').split(';')[0]!.trim().toLowerCase()
  if (ext === 'md' || ext === 'markdown' || type === 'text/markdown') return 'markdown'
  if (ext === 'csv' || type === 'text/csv') return 'csv'
  if (ext === 'json' || type === 'application/json') return 'json'
  return 'text'
}
