import { createHash } from 'node:crypto'
import { Transform, type TransformCallback } from 'node:stream'
import { PayloadTooLarge, UnsupportedMediaType, ValidationFailed } from '../errors.ts'
import { MEDIA_TYPES, textKindFor, type MediaKind, type MediaType, type TextKind } from './media-types.ts'
import { SNIFF_BYTES, sniff } from './sniff.ts'
import { createTextCheck, type TextCheck } from './text-check.ts'

export interface Inspected {
  bytes: number
  sha256: string
  /** The first SNIFF_BYTES bytes (fewer for a shorter file). */
  head: Buffer
  type: MediaType
}

export interface InspectorOptions {
  field: string
  accept: readonly MediaKind[]
  maxBytes: number
  /** The client's filename and Content-Type: they only choose between text kinds, never decide a type. */
  filename: string | undefined
  declaredType: string | undefined
}

export interface Inspector extends Transform {
  /** Available once the stream has flushed. */
  result (): Inspected
}

export const tooLarge = (maxBytes: number) => new PayloadTooLarge(`The upload is larger than the limit of ${maxBytes} bytes`)

function unsupported (accept: readonly MediaKind[], why?: string): Error {
  const formats = [...new Set(accept.map(kind => MEDIA_TYPES[kind].ext))].join(', ')
  return new UnsupportedMediaType(why
    ? `The upload was refused: ${why}`
    : `The upload is not one of the accepted formats (${formats}); it is identified by its content, not its name or declared type`)
}

/**
 * Passes an upload's bytes through while counting, hashing and identifying them: the size limit and
 * the format are decided as the bytes arrive, so an upload that fails either is stopped at once.
 */
export function createInspector (options: InspectorOptions): Inspector {
  const { accept, maxBytes } = options
  const hash = createHash('sha256')
  // Bytes seen before the format is decided (at most SNIFF_BYTES plus one chunk).
  let pending: Buffer[] = []
  let pendingBytes = 0
  let head = Buffer.alloc(0)
  let bytes = 0
  let type: MediaType | null = null
  let text: TextCheck | null = null
  let sha256 = ''

  function decide (complete: boolean): Error | null {
    const all = Buffer.concat(pending)
    head = all.subarray(0, SNIFF_BYTES)
    const found = sniff(head, complete)
    const kind: MediaKind | null = found === 'text' ? textKindFor(options.filename, options.declaredType) : found
    if (kind === null || !accept.includes(kind)) return unsupported(accept)
    type = MEDIA_TYPES[kind]
    if (found === 'text') {
      text = createTextCheck(kind as TextKind)
      const problem = text.push(all)
      if (problem) return unsupported(accept, problem)
    }
    pending = []
    return null
  }

  const stream = new Transform({
    transform (chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
      bytes += chunk.length
      if (bytes > maxBytes) return callback(tooLarge(maxBytes))
      hash.update(chunk)
      if (type === null) {
        pending.push(chunk)
        pendingBytes += chunk.length
        if (pendingBytes >= SNIFF_BYTES) {
          const err = decide(false)
          if (err) return callback(err)
        }
      } else if (text) {
        const problem = text.push(chunk)
        if (problem) return callback(unsupported(accept, problem))
      }
      callback(null, chunk)
    },
    flush (callback: TransformCallback) {
      if (bytes === 0) return callback(new ValidationFailed(`body.${options.field} is empty`))
      if (type === null) {
        const err = decide(true)
        if (err) return callback(err)
      }
      const problem = text?.end()
      if (problem) return callback(unsupported(accept, problem))
      sha256 = hash.digest('hex')
      callback()
    }
  }) as Inspector
  stream.result = () => {
    if (type === null || sha256 === '') throw new Error('upload not inspected yet')
    return { bytes, sha256, head, type }
  }
  return stream
}
