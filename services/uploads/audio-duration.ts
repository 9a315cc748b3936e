// Hand-written rather than music-metadata (v12, parseFile with duration: true), measured on the fixtures
// (test/fixtures/media, examples/samples; expected figures from ffprobe): this file gets 19 of 19 right,
// music-metadata 11. It has no length for the WebM browsers record live (no Duration: the SPA's voice
// button), a WAV whose recorder wrote 0 as the data size, MP3 without a Xing header, MPEG-2 layer II or a
// WebM cut mid-stream, and says 0.228 s for the 0.1 s M4A/MP4 (a fragmented MP4 that states nothing
// included). It also reads more: 25 MiB of CBR MP3 took 1.2 ms and a few KiB here, 11 ms with parseFile
// and 520 ms reading all 25 MiB with parseStream.
import { open, type FileHandle } from 'node:fs/promises'
import type { AudioKind } from './media-types.ts'

/**
 * Audio length for budgets and for the `duration` the SPA expects, before anything is sent upstream.
 * Every format OpenAI accepts is measured from its container: WAV and FLAC headers, the WebM/Matroska
 * Duration (or, for the live recordings browsers make, the last block's timestamp), Ogg's last granule
 * position, MP4's movie header, MP3's Xing/VBRI frame count (or its constant bitrate). Byte-count
 * bounds remain for files whose container does not say, and to keep a doctored header honest.
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

/**
 * Random access to a spooled file through one small window, so measuring a 25 MiB upload reads it in
 * 64 KiB steps and never holds it whole. Callers `fill` before reading; `buf`/`start` are the window.
 */
class FileWindow {
  static readonly SIZE = 64 * 1024
  buf = Buffer.alloc(0)
  start = 0
  readonly file: FileHandle
  readonly size: number
  constructor (file: FileHandle, size: number) {
    this.file = file
    this.size = size
  }

  has (pos: number, len: number): boolean {
    return pos >= this.start && pos + len <= this.start + this.buf.length
  }

  /** Makes [pos, pos + len) readable (len ≤ SIZE); false past the end of the file. */
  async fill (pos: number, len: number): Promise<boolean> {
    if (this.has(pos, len)) return true
    if (pos < 0 || pos + len > this.size) return false
    const buf = Buffer.alloc(Math.min(FileWindow.SIZE, this.size - pos))
    const { bytesRead } = await this.file.read(buf, 0, buf.length, pos)
    this.buf = buf.subarray(0, bytesRead)
    this.start = pos
    return this.has(pos, len)
  }

  /** The bytes [pos, pos + len) after a successful `fill`. */
  at (pos: number, len: number): Buffer {
    return this.buf.subarray(pos - this.start, pos - this.start + len)
  }
}

// --- WebM / Matroska (EBML) ---

const EBML = { segment: 0x18538067, info: 0x1549A966, timecodeScale: 0x2AD7B1, duration: 0x4489, cluster: 0x1F43B675, timecode: 0xE7, blockGroup: 0xA0, block: 0xA1, simpleBlock: 0xA3 } as const
/** Master elements whose children are read in place; everything else is skipped by its size. */
const ENTERED = new Set<number>([EBML.segment, EBML.info, EBML.cluster, EBML.blockGroup])

/** An EBML variable-length integer at `offset`: its length and value (marker bit kept for ids). */
function vint (buf: Buffer, offset: number, keepMarker: boolean): { length: number, value: number, unknown: boolean } | null {
  const first = buf[offset]
  if (first === undefined || first === 0) return null
  const length = Math.clz32(first) - 23
  if (length > 8 || offset + length > buf.length) return null
  let value = keepMarker ? first : first & (0xFF >> length)
  let allOnes = value === (0xFF >> length)
  for (let i = 1; i < length; i++) {
    value = value * 256 + buf[offset + i]!
    allOnes &&= buf[offset + i] === 0xFF
  }
  return { length, value, unknown: !keepMarker && allOnes }
}

function uint (buf: Buffer): number {
  let value = 0
  for (const byte of buf) value = value * 256 + byte
  return value
}

/**
 * Seconds of a WebM file: Info's Duration when the muxer wrote one; otherwise (MediaRecorder's live
 * files have none, and unknown-size segments and clusters) the timestamp of the last block, found by
 * walking the clusters. Elements are read flat: Segment, Info, Cluster and BlockGroup are entered,
 * so unknown sizes need no bookkeeping.
 */
async function webmSeconds (file: FileWindow): Promise<number | null> {
  let pos = 0
  let scaleNs = 1_000_000
  let durationTicks = 0
  let clusterTime = 0
  let lastBlock = -1
  while (pos < file.size) {
    const headerLength = Math.min(12, file.size - pos)
    if (!file.has(pos, headerLength) && !await file.fill(pos, headerLength)) break
    const header = file.at(pos, headerLength)
    const id = vint(header, 0, true)
    const size = id && vint(header, id.length, false)
    if (!id || !size) return null
    // Info (with TimecodeScale and Duration) precedes the clusters.
    if (id.value === EBML.cluster && durationTicks > 0) break
    const dataAt = pos + id.length + size.length
    if (ENTERED.has(id.value)) {
      pos = dataAt
      continue
    }
    if (size.unknown) return null
    const small = size.value <= 8 && await file.fill(dataAt, size.value) ? file.at(dataAt, size.value) : null
    if (id.value === EBML.timecodeScale && small) scaleNs = uint(small) || scaleNs
    if (id.value === EBML.duration && small && (size.value === 4 || size.value === 8)) {
      const ticks = size.value === 4 ? small.readFloatBE(0) : small.readDoubleBE(0)
      if (ticks > 0 && Number.isFinite(ticks)) durationTicks = ticks
    }
    if (id.value === EBML.timecode && small) clusterTime = uint(small)
    if ((id.value === EBML.simpleBlock || id.value === EBML.block) && await file.fill(dataAt, Math.min(11, size.value))) {
      // A block starts with its track number (a vint) and a signed 16-bit time relative to the cluster.
      const data = file.at(dataAt, Math.min(11, size.value))
      const track = vint(data, 0, false)
      if (track && track.length + 2 <= data.length) lastBlock = Math.max(lastBlock, clusterTime + data.readInt16BE(track.length))
    }
    pos = dataAt + size.value
  }
  if (durationTicks > 0) return durationTicks * scaleNs / 1e9
  return lastBlock >= 0 ? lastBlock * scaleNs / 1e9 : null
}

// --- Ogg (Opus, Vorbis) ---

/** The largest Ogg page: header with 255 lacing values plus 255 × 255 bytes of data. */
const OGG_MAX_PAGE = 27 + 255 + 255 * 255

/** Seconds of an Ogg Opus or Vorbis stream: the last page's granule position over the sample rate. */
async function oggSeconds (file: FileWindow, head: Buffer): Promise<number | null> {
  if (head.length < 28 || head.toString('latin1', 0, 4) !== 'OggS') return null
  const serial = head.readUInt32LE(14)
  let rate = 0
  let preSkip = 0
  const opus = head.indexOf('OpusHead', 0, 'latin1')
  const vorbis = head.indexOf('\x01vorbis', 0, 'latin1')
  if (opus >= 0 && opus + 12 <= head.length) {
    rate = 48_000 // Opus granule positions always count 48 kHz samples.
    preSkip = head.readUInt16LE(opus + 10)
  } else if (vorbis >= 0 && vorbis + 16 <= head.length) {
    rate = head.readUInt32LE(vorbis + 12)
  }
  if (rate === 0) return null
  const tailStart = Math.max(0, file.size - OGG_MAX_PAGE)
  if (!await file.fill(tailStart, file.size - tailStart)) return null
  const tail = file.at(tailStart, file.size - tailStart)
  // The last page of the first stream with a granule position (-1 marks a page where no packet ends).
  for (let at = tail.lastIndexOf('OggS', tail.length, 'latin1'); at >= 0; at = at > 0 ? tail.lastIndexOf('OggS', at - 1, 'latin1') : -1) {
    if (at + 27 > tail.length || tail.readUInt32LE(at + 14) !== serial) continue
    const granule = tail.readBigInt64LE(at + 6)
    if (granule >= 0n) return Math.max(0, Number(granule) - preSkip) / rate
  }
  return null
}

// --- MP4 / M4A (ISO base media) ---

/** Seconds from the movie header (`moov/mvhd`), or for a fragmented file its `moov/mvex/mehd`. */
async function mp4Seconds (file: FileWindow): Promise<number | null> {
  let pos = 0
  let end = file.size
  let timescale = 0
  while (pos + 8 <= end) {
    if (!await file.fill(pos, Math.min(40, end - pos))) return null
    const box = file.at(pos, Math.min(40, end - pos))
    let size = box.readUInt32BE(0)
    const type = box.toString('latin1', 4, 8)
    let headerSize = 8
    if (size === 1 && box.length >= 16) {
      size = Number(box.readBigUInt64BE(8))
      headerSize = 16
    } else if (size === 0) {
      size = end - pos
    }
    if (size < headerSize) return null
    if (type === 'moov' || type === 'mvex') {
      end = Math.min(end, pos + size)
      pos += headerSize
      continue
    }
    const version = box[headerSize]
    if (type === 'mvhd' && box.length >= 40) {
      timescale = version === 1 ? box.readUInt32BE(28) : box.readUInt32BE(20)
      const duration = version === 1 ? Number(box.readBigUInt64BE(32)) : box.readUInt32BE(24)
      // Fragmented files (Safari's recordings) leave 0 here and may say it in mehd instead.
      if (timescale > 0 && duration > 0 && duration !== 0xFFFFFFFF) return duration / timescale
    }
    if (type === 'mehd' && timescale > 0 && box.length >= 20) {
      const duration = version === 1 ? Number(box.readBigUInt64BE(12)) : box.readUInt32BE(12)
      if (duration > 0) return duration / timescale
    }
    pos += size
  }
  return null
}

// --- MPEG audio (MP3, MP2) ---

const MPEG_BITRATES_KBPS: Record<string, readonly number[]> = {
  '1-1': [0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448],
  '1-2': [0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384],
  '1-3': [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320],
  '2-1': [0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256],
  '2-2': [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
  '2-3': [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160]
}
const MPEG_SAMPLE_RATES: Record<number, readonly number[]> = { 3: [44_100, 48_000, 32_000], 2: [22_050, 24_000, 16_000], 0: [11_025, 12_000, 8_000] }

/**
 * Seconds of an MPEG audio stream: frames × samples per frame from a Xing/Info or VBRI header (what
 * encoders write for variable bitrates), else the audio bytes at the first frame's constant bitrate.
 */
async function mpegSeconds (file: FileWindow): Promise<number | null> {
  let start = 0
  if (await file.fill(0, 10) && file.at(0, 3).toString('latin1') === 'ID3') {
    const tag = file.at(0, 10)
    const tagSize = ((tag[6]! & 0x7F) << 21) | ((tag[7]! & 0x7F) << 14) | ((tag[8]! & 0x7F) << 7) | (tag[9]! & 0x7F)
    start = 10 + tagSize + (tag[5]! & 0x10 ? 10 : 0)
  }
  const frameLength = Math.min(4 + 32 + 18, file.size - start)
  if (frameLength < 4 || !await file.fill(start, frameLength)) return null
  const frame = file.at(start, frameLength)
  if (frame[0] !== 0xFF || (frame[1]! & 0xE0) !== 0xE0) return null
  const versionBits = (frame[1]! >> 3) & 3
  const layer = 4 - ((frame[1]! >> 1) & 3)
  const bitrate = MPEG_BITRATES_KBPS[`${versionBits === 3 ? 1 : 2}-${layer}`]?.[frame[2]! >> 4]
  const sampleRate = MPEG_SAMPLE_RATES[versionBits]?.[(frame[2]! >> 2) & 3]
  if (!bitrate || !sampleRate) return null
  const samplesPerFrame = layer === 1 ? 384 : layer === 2 || versionBits === 3 ? 1152 : 576
  const mono = (frame[3]! >> 6) === 3
  const xing = 4 + (versionBits === 3 ? (mono ? 17 : 32) : (mono ? 9 : 17))
  const tag = frame.toString('latin1', xing, xing + 4)
  if ((tag === 'Xing' || tag === 'Info') && xing + 12 <= frame.length && (frame.readUInt32BE(xing + 4) & 1)) {
    return frame.readUInt32BE(xing + 8) * samplesPerFrame / sampleRate
  }
  if (frame.toString('latin1', 36, 40) === 'VBRI' && frame.length >= 54) {
    return frame.readUInt32BE(50) * samplesPerFrame / sampleRate
  }
  return Math.max(0, file.size - start) * 8 / (bitrate * 1000)
}

/**
 * The length of spooled audio in seconds as its container states it, or null when it does not.
 * Reads at most the few small pieces it needs (WebM without a Duration: its element headers).
 */
export async function measureAudioSeconds (kind: AudioKind, path: string, head: Buffer, bytes: number): Promise<number | null> {
  if (kind === 'wav') return wavSeconds(head, bytes)
  if (kind === 'flac') return flacSeconds(head)
  const handle = await open(path, 'r')
  try {
    const file = new FileWindow(handle, bytes)
    switch (kind) {
      case 'webm': return await webmSeconds(file)
      case 'ogg': return await oggSeconds(file, head)
      case 'mp3': case 'mpga': return await mpegSeconds(file)
      case 'm4a': case 'mp4': return await mp4Seconds(file)
    }
  } finally {
    await handle.close()
  }
}

export interface AudioSeconds {
  /** The length the container states, when it does. */
  measured: number | null
  /** Bounds from the byte count at the highest and lowest common bitrates. */
  min: number
  max: number
}

/** What is known of an upload's length: the container's figure and the byte-count bounds. */
export async function audioSeconds (kind: AudioKind, path: string, head: Buffer, bytes: number): Promise<AudioSeconds> {
  const measured = await measureAudioSeconds(kind, path, head, bytes)
  return { measured, min: bytes / HIGH_BYTES_PER_SECOND, max: bytes / LOW_BYTES_PER_SECOND }
}
