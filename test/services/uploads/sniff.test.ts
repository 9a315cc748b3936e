import t from 'tap'
import { displayFilename } from '../../../services/uploads/filename.ts'
import { MEDIA_TYPES, textKindFor } from '../../../services/uploads/media-types.ts'
import { SNIFF_BYTES, mpegFrame, sniff } from '../../../services/uploads/sniff.ts'
import { gif, media, mp3Frames, pdf, png, refused, text, wav } from '../../fixtures/samples.ts'

const identify = (bytes: Buffer) => sniff(bytes.subarray(0, SNIFF_BYTES), bytes.length <= SNIFF_BYTES)

t.test('every accepted format is identified from real bytes', async t => {
  const cases: Array<[string, Buffer, string]> = [
    ['flac (flac encoder)', media('tone.flac'), 'flac'],
    ['mp3 with an ID3v2 tag (LAME)', media('tone-id3.mp3'), 'mp3'],
    ['mp3 frames without a tag (LAME)', media('tone-frames.mp3'), 'mp3'],
    ['mp3 frames built here', mp3Frames(), 'mp3'],
    ['mpga: MPEG-2 layer II', media('tone.mpga'), 'mpga'],
    ['m4a: AAC in an M4A-branded container', media('tone.m4a'), 'm4a'],
    ['mp4: AAC in an isom-branded container', media('tone.mp4'), 'mp4'],
    ['ogg: Opus in Ogg', media('tone.ogg'), 'ogg'],
    ['webm: Opus in WebM', media('tone.webm'), 'webm'],
    ['wav built here', wav(), 'wav'],
    ['pdf built here', pdf(), 'pdf'],
    ['png built here', png(), 'png'],
    ['jpeg (ffmpeg)', media('pixel.jpg'), 'jpeg'],
    ['webp lossless (libwebp)', media('pixel.webp'), 'webp'],
    ['webp lossy (libwebp)', media('pixel-lossy.webp'), 'webp'],
    ['gif', gif(), 'gif'],
    ['plain text', text.plain(), 'text'],
    ['markdown', text.markdown(), 'text'],
    ['csv', text.csv(), 'text'],
    ['json', text.json(), 'text'],
    ['text with a BOM', text.bom(), 'text']
  ]
  for (const [name, bytes, kind] of cases) t.equal(identify(bytes), kind, name)
})

t.test('lookalikes and other formats are not accepted', async t => {
  // Binary lookalikes are refused here; what has no signature and no NUL is left to the text check.
  const textCandidates = ['fakeMpeg', 'badUtf8', 'controlBytes', 'badJson']
  for (const [name, make] of Object.entries(refused)) {
    t.equal(identify(make()), textCandidates.includes(name) ? 'text' : null, name)
  }
  t.equal(identify(Buffer.alloc(0)), null, 'empty')
  t.equal(identify(Buffer.concat([Buffer.from('RIFF\x24\x00\x00\x00AVI LIST', 'latin1'), Buffer.alloc(32)])), null, 'RIFF that is neither WAVE nor WEBP')
  t.equal(identify(Buffer.from('ID3\x04\x00\x00\x00\x00\x00\x05hello world', 'latin1')), null, 'an ID3 tag followed by something that is not audio')
  t.equal(identify(Buffer.from('ID3\x04\x00\x00\x00\x00\x00\x00', 'latin1')), null, 'a complete file that is only a tag')
  t.equal(sniff(Buffer.from('ID3\x04\x00\x00\x00\x01\x00\x00', 'latin1'), false), 'mp3', 'a tag longer than the head is taken at its word')
  t.equal(identify(mp3Frames(1).subarray(0, 300)), null, 'a single frame cut short')
  t.equal(identify(Buffer.concat([Buffer.from('ID3\x04\x00\x00\x00\x00\x00\x00', 'latin1'), media('tone.flac')])), 'flac', 'ID3-tagged FLAC')
  t.equal(identify(Buffer.from('\uFEFFhi', 'utf16le')), null, 'UTF-16 text whose BOM reads as an MPEG header, cut short')
})

t.test('MPEG frame header arithmetic', async t => {
  t.same(mpegFrame(Buffer.from([0xFF, 0xFB, 0x90, 0xC0]), 0), { version: 3, layer: 3, bitrate: 128_000, sampleRate: 44_100, length: 417 })
  t.match(mpegFrame(Buffer.from([0xFF, 0xFB, 0x92, 0xC0]), 0), { length: 418 }, 'padding adds a byte')
  t.match(mpegFrame(Buffer.from([0xFF, 0xFD, 0x90, 0xC0]), 0), { layer: 2, bitrate: 160_000, length: 522 })
  t.match(mpegFrame(Buffer.from([0xFF, 0xFF, 0x90, 0xC0]), 0), { layer: 1, bitrate: 288_000, length: 312 })
  t.match(mpegFrame(Buffer.from([0xFF, 0xF3, 0x90, 0xC0]), 0), { version: 2, layer: 3, bitrate: 80_000, sampleRate: 22_050, length: 261 })
  t.equal(mpegFrame(Buffer.from([0xFF, 0xF1, 0x50, 0x80]), 0), null, 'ADTS (layer bits 00)')
  t.equal(mpegFrame(Buffer.from([0xFF, 0xEB, 0x90, 0xC0]), 0), null, 'reserved version')
  t.equal(mpegFrame(Buffer.from([0xFF, 0xFB, 0xF0, 0xC0]), 0), null, 'bad bitrate index')
  t.equal(mpegFrame(Buffer.from([0xFF, 0xFB, 0x9C, 0xC0]), 0), null, 'reserved sample rate')
  t.equal(mpegFrame(Buffer.from([0xFF, 0xFB, 0x90]), 0), null, 'too short')
})

t.test('text kinds come from the declared name or type, never the bytes', async t => {
  t.equal(textKindFor('notes.MD', undefined), 'markdown')
  t.equal(textKindFor('table.csv', 'application/octet-stream'), 'csv')
  t.equal(textKindFor('data.json', undefined), 'json')
  t.equal(textKindFor('blob', 'application/json; charset=utf-8'), 'json')
  t.equal(textKindFor('notes.txt', 'text/plain'), 'text')
  t.equal(textKindFor(undefined, undefined), 'text')
})

t.test('display filenames are cleaned, bounded and carry the identified extension', async t => {
  const cases: Array<[string | undefined, keyof typeof MEDIA_TYPES, string]> = [
    ['report.pdf', 'pdf', 'report.pdf'],
    ['../../etc/passwd', 'text', 'passwd.txt'],
    ['C:\\Users\\me\\photo.JPEG', 'jpeg', 'photo.JPEG'.replace('JPEG', 'jpeg')],
    ['photo.png', 'jpeg', 'photo.png.jpg'],
    ['voice.opus', 'ogg', 'voice.opus.ogg'],
    ['rec.mp4', 'm4a', 'rec.mp4'],
    ['"quoted"\r\nname<>|?*.wav', 'wav', 'quotedname.wav'],
    ['evil\u202Egpj.exe', 'pdf', 'evilgpj.exe.pdf'],
    ['...hidden', 'text', 'hidden.txt'],
    ['', 'webm', 'upload.webm'],
    [undefined, 'png', 'upload.png'],
    ['   .  ', 'gif', 'upload.gif'],
    ['Кириллица 日本.md', 'markdown', 'Кириллица 日本.md']
  ]
  for (const [given, kind, expected] of cases) t.equal(displayFilename(given, MEDIA_TYPES[kind]), expected, JSON.stringify(given))
  const long = displayFilename(`${'é'.repeat(300)}.pdf`, MEDIA_TYPES.pdf)
  t.ok(Array.from(long).length <= 128, 'bounded')
  t.match(long, /^é+\.pdf$/)
  const emoji = displayFilename(`${'🎙'.repeat(200)}.wav`, MEDIA_TYPES.wav)
  t.notMatch(emoji, /[\uD800-\uDBFF](?![\uDC00-\uDFFF])/, 'no surrogate pair is cut')
})
