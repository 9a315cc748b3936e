import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { audioSeconds, flacSeconds, measureAudioSeconds, wavSeconds } from '../../../services/uploads/audio-duration.ts'
import type { AudioKind } from '../../../services/uploads/media-types.ts'
import { media, mp3Frames, pdf, wav } from '../../fixtures/samples.ts'

const dir = mkdtempSync(join(tmpdir(), 'agw-duration-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))
let n = 0
/** Measures bytes the way the gateway does: from a spooled file plus its first 4 KiB. */
async function measure (kind: AudioKind, bytes: Buffer): Promise<number | null> {
  const path = join(dir, `${n++}`)
  writeFileSync(path, bytes)
  return await measureAudioSeconds(kind, path, bytes.subarray(0, 4096), bytes.length)
}
const near = (actual: number | null, expected: number, tolerance = 0.0015) => actual !== null && Math.abs(actual - expected) <= tolerance

t.test('WAV and FLAC from their headers', async t => {
  t.equal(wavSeconds(wav({ seconds: 1.5 }), wav({ seconds: 1.5 }).length), 1.5)
  const streamed = wav({ seconds: 2, declaredDataSize: 0xFFFFFFFF })
  t.equal(wavSeconds(streamed.subarray(0, 64), streamed.length), 2, 'a streamed WAV is measured by the bytes received')
  t.equal(wavSeconds(wav({ seconds: 1, declaredDataSize: 0 }), wav({ seconds: 1 }).length), 1)
  t.equal(wavSeconds(pdf(), 100), null)
  t.equal(flacSeconds(media('tone.flac')), 0.1, 'STREAMINFO: 800 samples at 8 kHz')
  t.equal(flacSeconds(wav()), null)
  t.equal(await measure('wav', wav({ seconds: 3 })), 3)
  t.equal(await measure('flac', media('tone.flac')), 0.1)
})

// The fixtures are 0.1 s tones made by ffmpeg (test/fixtures/make-media.sh); the expected figures are ffprobe's.
t.test('compressed formats from their containers', async t => {
  t.ok(near(await measure('webm', media('tone.webm')), 0.108), 'WebM: Info Duration')
  t.ok(near(await measure('webm', media('tone-live.webm')), 0.101), 'live WebM (no Duration, unknown sizes): the last block')
  t.ok(near(await measure('webm', readSample('sample.webm')), 3.197), 'the README sample: 3.2 s of speech')
  t.ok(near(await measure('ogg', media('tone.ogg')), 0.1), 'Ogg Opus: last granule less pre-skip')
  t.ok(near(await measure('ogg', media('tone-vorbis.ogg')), 0.1), 'Ogg Vorbis')
  t.ok(near(await measure('m4a', media('tone.m4a')), 0.1), 'M4A: mvhd')
  t.ok(near(await measure('mp4', media('tone.mp4')), 0.1), 'MP4: mvhd')
  t.ok(near(await measure('mp3', media('tone-id3.mp3')), 0.288), 'MP3 after an ID3v2 tag: the Xing frame count')
  t.ok(near(await measure('mp3', media('tone-frames.mp3')), 0.288), 'MP3 without Xing: constant bitrate')
  t.ok(near(await measure('mpga', media('tone.mpga')), 0.144), 'MPEG-2 layer II')
  t.ok(near(await measure('mp3', mp3Frames(4)), 4 * 1152 / 44_100, 0.01), 'four 128 kbit/s frames')
})

t.test('what a container does not say stays unknown; damage never throws', async t => {
  t.equal(await measure('mp4', media('tone-frag.mp4')), null, 'fragmented MP4 without mehd (Safari\'s recordings)')
  t.equal(await measure('webm', Buffer.from([0x1A, 0x45, 0xDF, 0xA3, 0x00])), null, 'invalid size')
  t.equal(await measure('webm', media('tone-live.webm').subarray(0, 200)), null, 'cut before the first block')
  t.ok(near(await measure('webm', media('tone-live.webm').subarray(0, 450)), 0.021), 'cut mid-stream: the blocks received')
  t.equal(await measure('ogg', media('tone.ogg').subarray(0, 20)), null, 'Ogg too short for its header')
  t.equal(await measure('ogg', Buffer.concat([Buffer.from('OggS'), Buffer.alloc(60)])), null, 'Ogg with no codec header')
  t.equal(await measure('mp4', Buffer.from('\x00\x00\x00\x04ftyp', 'latin1')), null, 'box smaller than its header')
  t.equal(await measure('mp4', media('tone.mp4').subarray(0, 40)), null, 'no movie header')
  t.equal(await measure('mp3', Buffer.from('ID3\x04\x00\x00\x00\x00\x00\x05hello', 'latin1')), null, 'a tag and no frame')
  t.equal(await measure('mp3', Buffer.alloc(10)), null)
})

t.test('bounds from the byte count come with the measurement', async t => {
  const path = join(dir, 'bounds')
  writeFileSync(path, Buffer.alloc(80_000))
  t.same(await audioSeconds('webm', path, Buffer.alloc(0), 80_000), { measured: null, min: 2, max: 40 })
})

function readSample (name: string): Buffer {
  return media(join('..', '..', '..', 'examples', 'samples', name))
}
