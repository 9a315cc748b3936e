import { createHash } from 'node:crypto'
import { Readable, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import t from 'tap'
import { createInspector, type Inspected } from '../../../services/uploads/inspector.ts'
import { AUDIO_KINDS, FILE_KINDS, type MediaKind } from '../../../services/uploads/media-types.ts'
import { gif, media, pdf, png, refused, text, wav } from '../../fixtures/samples.ts'

interface Verdict { type?: string, code?: string, message?: string, inspected?: Inspected, chunksRead: number }

async function inspect (bytes: Buffer | Buffer[], { accept = FILE_KINDS, filename, declaredType, maxBytes = 1024 * 1024 }: { accept?: readonly MediaKind[], filename?: string, declaredType?: string, maxBytes?: number } = {}): Promise<Verdict> {
  const inspector = createInspector({ field: 'file', accept, maxBytes, filename, declaredType })
  let chunksRead = 0
  const chunks = Array.isArray(bytes) ? bytes : [bytes]
  const source = Readable.from((function * () {
    for (const chunk of chunks) {
      chunksRead++
      yield chunk
    }
  })(), { objectMode: false })
  try {
    await pipeline(source, inspector, new Writable({ write (_chunk, _encoding, callback) { callback() } }))
    const inspected = inspector.result()
    return { type: inspected.type.kind, inspected, chunksRead }
  } catch (err) {
    const e = err as { code?: string, message?: string }
    return { code: e.code, message: e.message, chunksRead }
  }
}

t.test('file uploads: each accepted kind, with the MIME type stored for attachments', async t => {
  const cases: Array<[Buffer, string | undefined, string, string]> = [
    [pdf(), 'x.bin', 'pdf', 'application/pdf'],
    [png(), undefined, 'png', 'image/png'],
    [media('pixel.jpg'), 'photo.png', 'jpeg', 'image/jpeg'],
    [media('pixel.webp'), undefined, 'webp', 'image/webp'],
    [gif(), undefined, 'gif', 'image/gif'],
    [text.plain(), 'notes.txt', 'text', 'text/plain'],
    [text.markdown(), 'agenda.md', 'markdown', 'text/markdown'],
    [text.csv(), 'table.csv', 'csv', 'text/csv'],
    [text.json(), 'data.json', 'json', 'application/json']
  ]
  for (const [bytes, filename, kind, mime] of cases) {
    const verdict = await inspect(bytes, { filename })
    t.equal(verdict.type, kind, `${kind} from ${filename ?? 'no name'}`)
    t.equal(verdict.inspected?.type.mime, mime)
    t.equal(verdict.inspected?.bytes, bytes.length)
    t.equal(verdict.inspected?.sha256, createHash('sha256').update(bytes).digest('hex'))
  }
})

t.test('refused whatever the name or declared type says (415)', async t => {
  const cases: Array<[string, Buffer, string, string]> = [
    ['an executable named like a PDF', refused.exe(), 'report.pdf', 'application/pdf'],
    ['an ELF binary named like an image', refused.elf(), 'cat.png', 'image/png'],
    ['a zip named like text', refused.zip(), 'notes.txt', 'text/plain'],
    ['an MPEG lookalike', refused.fakeMpeg(), 'song.mp3', 'audio/mpeg'],
    ['UTF-16 text', refused.utf16(), 'notes.txt', 'text/plain'],
    ['invalid UTF-8', refused.badUtf8(), 'notes.txt', 'text/plain'],
    ['control bytes', refused.controlBytes(), 'notes.txt', 'text/plain'],
    ['JSON that does not parse', refused.badJson(), 'data.json', 'application/json'],
    ['audio is not a file kind', wav(), 'voice.pdf', 'application/pdf']
  ]
  for (const [name, bytes, filename, declaredType] of cases) {
    const verdict = await inspect(bytes, { filename, declaredType })
    t.equal(verdict.code, 'UNSUPPORTED_MEDIA_TYPE', name)
  }
  t.match((await inspect(refused.badJson(), { filename: 'd.json' })).message, /not valid JSON/)
  t.match((await inspect(refused.exe())).message, /identified by its content/)
  const audioOnly = await inspect(pdf(), { accept: AUDIO_KINDS, filename: 'voice.webm', declaredType: 'audio/webm' })
  t.equal(audioOnly.code, 'UNSUPPORTED_MEDIA_TYPE', 'a PDF is not audio')
  t.match(audioOnly.message, /flac, mp3, mpga, m4a, mp4, ogg, wav, webm/)
})

t.test('the verdict comes as the bytes arrive, not after the whole upload', async t => {
  const chunks = [refused.exe(), ...Array.from({ length: 200 }, () => Buffer.alloc(64 * 1024, 0x41))]
  const wrongType = await inspect(chunks)
  t.equal(wrongType.code, 'UNSUPPORTED_MEDIA_TYPE')
  t.ok(wrongType.chunksRead < 5, `decided after ${wrongType.chunksRead} of ${chunks.length} chunks`)

  const big = [pdf(), ...Array.from({ length: 200 }, () => Buffer.alloc(64 * 1024, 0x20))]
  const tooBig = await inspect(big, { maxBytes: 256 * 1024 })
  t.equal(tooBig.code, 'PAYLOAD_TOO_LARGE')
  t.match(tooBig.message, /262144 bytes/)
  t.ok(tooBig.chunksRead < 10, `stopped after ${tooBig.chunksRead} of ${big.length} chunks`)

  const badText = [Buffer.alloc(8192, 0x61), Buffer.from([0xFF]), ...Array.from({ length: 200 }, () => Buffer.alloc(64 * 1024, 0x61))]
  const invalid = await inspect(badText, { filename: 'notes.txt' })
  t.equal(invalid.code, 'UNSUPPORTED_MEDIA_TYPE')
  t.ok(invalid.chunksRead < 5, 'invalid UTF-8 is refused where it occurs')

  t.equal((await inspect(pdf(), { maxBytes: pdf().length })).type, 'pdf', 'exactly at the limit is fine')
})

t.test('an empty file is a 400', async t => {
  const verdict = await inspect(Buffer.alloc(0))
  t.equal(verdict.code, 'VALIDATION_FAILED')
  t.equal(verdict.message, 'body.file is empty')
})

t.test('text split at every point is still text', async t => {
  const bytes = text.json()
  for (let cut = 1; cut < bytes.length; cut += 7) {
    t.equal((await inspect([bytes.subarray(0, cut), bytes.subarray(cut)], { filename: 'x.json' })).type, 'json', `cut at ${cut}`)
  }
  const long = Buffer.from(`[${Array.from({ length: 3000 }, (_, i) => `"é${i}"`).join(',')}]`)
  t.equal((await inspect([long.subarray(0, 4095), long.subarray(4095, 9001), long.subarray(9001)], { filename: 'x.json' })).type, 'json', 'longer than the sniffed head')
})
