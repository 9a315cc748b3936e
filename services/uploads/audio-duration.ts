import type { AudioKind } from './media-types.ts'

/**
 * Audio length for budgets, before anything is sent upstream. WAV and FLAC headers give it exactly;
 * compressed formats would need their containers parsed, so they get bounds from the byte count.
 */

/** Bytes per second of the lowest bitrate browsers record speech at (16 kbit/s Opus): an upper bound on the seconds. */
export const LOW_BYTES_PER_SECOND = 2_000
/** Bytes per second of the highest common lossy bitrate (320 kbit/s): a lower bound on the seconds. */
export const HIGH_BYTES_PER_SECOND = 40_000

/** Seconds of a RIFF/WAVE file from its fmt and data chunks (within `head`), or null. */
export function wavSeconds (head: Buffer, fileBytes: number): number | null {
  if (head.length < 12 || head.toString('latin1', 0, 4) !== 'RIFF' || head.toString('latin1', 8, 12) !== 'WAVE') return null
  let offset = 12
  let byteRate = 0
  while (offset + 8 <= head.length) {
    const id = head.toString('latin1', offset, offset + 4)
    const size = head.readUInt32LE(offset + 4)
    if (id === 'fmt ' && offset + 20 <= head.length) byteRate = head.readUInt32LE(offset + 16)
    if (id === 'data') {
      if (byteRate === 0) return null
      // Streamed recorders write 0 or 0xFFFFFFFF as the data size: the bytes received decide then.
      const available = fileBytes - (offset + 8)
      return Math.max(0, size === 0 || size > available ? available : size) / byteRate
    }
    offset += 8 + size + (size % 2)
  }
  return null
}

/** Seconds of a FLAC stream from its STREAMINFO block, or null (unknown total or no STREAMINFO first). */
export function flacSeconds (head: Buffer): number | null {
  if (head.length < 42 || head.toString('latin1', 0, 4) !== 'fLaC' || (head[4]! & 0x7F) !== 0) return null
  const sampleRate = (head[18]! << 12) | (head[19]! << 4) | (head[20]! >> 4)
  const totalSamples = (head[21]! & 0x0F) * 2 ** 32 + head.readUInt32BE(22)
  if (sampleRate === 0 || totalSamples === 0) return null
  return totalSamples / sampleRate
}

export interface AudioSeconds {
  /** Exact length from the header, when the format has one. */
  exact: number | null
  /** Bounds from the byte count (equal to `exact` when known). */
  min: number
  max: number
}

export function audioSeconds (kind: AudioKind, head: Buffer, bytes: number): AudioSeconds {
  const exact = kind === 'wav' ? wavSeconds(head, bytes) : kind === 'flac' ? flacSeconds(head) : null
  if (exact !== null) return { exact, min: exact, max: exact }
  return { exact: null, min: bytes / HIGH_BYTES_PER_SECOND, max: bytes / LOW_BYTES_PER_SECOND }
}
